//go:build windows

package lookup

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// fileFlagDeleteOnClose is FILE_FLAG_DELETE_ON_CLOSE: Windows removes the file when its last
// handle is closed, the process ending (or crashing) included.
const fileFlagDeleteOnClose = 0x04000000

// fileAttributeTemporary is FILE_ATTRIBUTE_TEMPORARY: kept in memory where there is room.
const fileAttributeTemporary = 0x100

// createBodyFile creates the certificates' file in dir, to be deleted by Windows when it is
// closed: an open file cannot be unlinked there.
func createBodyFile(dir string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	name := filepath.Join(dir, "certgal-lookup-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".bin")
	p, err := syscall.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE,
		syscall.FILE_SHARE_READ|syscall.FILE_SHARE_WRITE|syscall.FILE_SHARE_DELETE, nil,
		syscall.CREATE_NEW, fileAttributeTemporary|fileFlagDeleteOnClose, 0)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	return os.NewFile(uintptr(h), name), nil
}
