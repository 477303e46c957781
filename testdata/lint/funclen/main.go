// Command funclen lists the functions of a Go tree longer than -max lines
// (test files and testdata folders aside) and exits 1 when there is one:
// `make lint` keeps every production function short enough to hold in one's
// head. gocyclo, run beside it, bounds their complexity.
//
//	go run ./testdata/lint/funclen -max 80 .
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	limit := flag.Int("max", 80, "the most lines a function may take, from its func line to its closing brace")
	flag.Parse()
	long := 0
	for _, root := range flag.Args() {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root:
				return filepath.SkipDir
			case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
				return nil
			}
			n, err := report(path, *limit)
			long += n
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "funclen:", err)
			os.Exit(2)
		}
	}
	if long > 0 {
		os.Exit(1)
	}
}

// report prints the functions of one file longer than limit and counts them.
func report(path string, limit int) (int, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		from, to := fset.Position(fd.Pos()), fset.Position(fd.End())
		if lines := to.Line - from.Line + 1; lines > limit {
			fmt.Printf("%s:%d: %s is %d lines (at most %d)\n", path, from.Line, fd.Name.Name, lines, limit)
			n++
		}
	}
	return n, nil
}
