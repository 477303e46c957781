package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
)

// syscost prints what a system call costs on this machine, the price of serving from a file:
// the lookup reads each certificate it answers with one pread (its bytes stay off the heap
// and out of the daemon's memory, goal 1 of issue 17), where go-bare serves from a map.
func syscost(args []string) error {
	fs := flag.NewFlagSet("syscost", flag.ExitOnError)
	n := fs.Int("n", 200000, "calls of each kind")
	fs.Parse(args)
	f, err := os.CreateTemp("", "certgal-syscost-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const size, read = 64 << 20, 1300 // a store's worth of certificates; one of them
	if _, err := f.Write(make([]byte, size)); err != nil {
		return err
	}
	start := time.Now()
	for range *n {
		syscall.Getpid()
	}
	getpid := time.Since(start) / time.Duration(*n)
	buf := make([]byte, read)
	start = time.Now()
	for i := range *n {
		if _, err := f.ReadAt(buf, int64(i*7919%(size/read))*read); err != nil {
			return err
		}
	}
	pread := time.Since(start) / time.Duration(*n)
	fmt.Printf("RESULT getpid_ns=%d pread_ns=%d\n", getpid.Nanoseconds(), pread.Nanoseconds())
	return nil
}
