package edgenode

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// ErrChecksum: a file's size or sha256 is not the one its manifest gives.
var ErrChecksum = errors.New("file does not match its manifest")

// currentFile names, in a model's directory, the version it serves: the upstream's
// manifest entry of that version, listing the files kept. Its modification time is
// the model's last successful sync.
const currentFile = "current.json"

// disk keeps the mirrored versions in dir: dir/<model>/current.json and the version's
// files in dir/<model>/v<version>/<variant>.onnx. A version is complete on disk before
// current.json names it, and current.json is replaced by a rename, so a crash leaves
// the previous version or the new one, never a mix.
type disk struct{ dir string }

// models lists the models with a directory.
func (d disk) models() ([]string, error) {
	entries, err := os.ReadDir(d.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// load reads the version the model's directory serves and its files, verified; synced
// is when it last matched the upstream.
func (d disk) load(name string) (v api.ModelVersion, files map[registry.Variant][]byte, synced time.Time, err error) {
	path := filepath.Join(d.dir, name, currentFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return v, nil, synced, err
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, nil, synced, fmt.Errorf("%s: %w", path, err)
	}
	files = map[registry.Variant][]byte{}
	for _, f := range v.Files {
		file := filepath.Join(d.versionDir(name, v.Version), string(f.Variant)+".onnx")
		onnx, err := os.ReadFile(file)
		if err != nil {
			return v, nil, synced, err
		}
		if err := verify(f, onnx); err != nil {
			return v, nil, synced, fmt.Errorf("%s: %w", file, err)
		}
		files[registry.Variant(f.Variant)] = onnx
	}
	info, err := os.Stat(path)
	if err != nil {
		return v, nil, synced, err
	}
	return v, files, info.ModTime(), nil
}

// save writes the version and its files (those v lists), makes it the one the model's
// directory serves, and removes the other versions.
func (d disk) save(v api.ModelVersion, files map[registry.Variant][]byte) error {
	if err := registry.CheckName(v.Name); err != nil {
		return fmt.Errorf("model name cannot name a directory: %w", err)
	}
	modelDir := filepath.Join(d.dir, v.Name)
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(modelDir, ".download-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone after the rename unless something failed
	for _, f := range v.Files {
		if err := writeSynced(filepath.Join(tmp, string(f.Variant)+".onnx"), files[registry.Variant(f.Variant)]); err != nil {
			return err
		}
	}
	dst := d.versionDir(v.Name, v.Version)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	manifest, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(modelDir, currentFile+".tmp"), manifest); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(modelDir, currentFile+".tmp"), filepath.Join(modelDir, currentFile)); err != nil {
		return err
	}
	return d.prune(v.Name, v.Version)
}

// prune removes the model's versions other than keep.
func (d disk) prune(name string, keep int64) error {
	entries, err := os.ReadDir(filepath.Join(d.dir, name))
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if n, ok := strings.CutPrefix(e.Name(), "v"); ok && e.IsDir() && n != strconv.FormatInt(keep, 10) {
			errs = append(errs, os.RemoveAll(filepath.Join(d.dir, name, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// touch records that the model matched the upstream at t.
func (d disk) touch(name string, t time.Time) error {
	return os.Chtimes(filepath.Join(d.dir, name, currentFile), t, t)
}

func (d disk) versionDir(name string, version int64) string {
	return filepath.Join(d.dir, name, "v"+strconv.FormatInt(version, 10))
}

// writeSynced writes data to path and flushes it to the device.
func writeSynced(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// verify checks data against the manifest's size and sha256 of the file.
func verify(f api.ModelFile, data []byte) error {
	if int64(len(data)) != f.SizeBytes {
		return fmt.Errorf("%s file: %d bytes, the manifest says %d: %w", f.Variant, len(data), f.SizeBytes, ErrChecksum)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != f.Sha256 {
		return fmt.Errorf("%s file: sha256 %s, the manifest says %s: %w", f.Variant, got, f.Sha256, ErrChecksum)
	}
	return nil
}
