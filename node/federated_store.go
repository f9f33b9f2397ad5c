package node

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/krystalstack/gamesa/consensus"
	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// modelStore keeps global model files in the data directory, each named by
// its content hash (<hex>.model), so a file's name says what it must hold
// and a node can serve any version it has to any other. Files are written
// atomically and checked when read: a damaged one is removed and counts as
// missing. It is safe for concurrent use (the file system orders it).
type modelStore struct {
	dir string
}

// errModelMissing says the store does not hold a file.
var errModelMissing = errors.New("model file not in this node's store")

func newModelStore(dir string) (*modelStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("federated store: %w", err)
	}
	return &modelStore{dir: dir}, nil
}

func (s *modelStore) path(hash []byte) string {
	return filepath.Join(s.dir, hex.EncodeToString(hash)+".model")
}

// verify decodes a model file of kind and checks that its content hash is
// hash: what makes a file the version the cluster committed.
func verifyModel(data []byte, kind string, hash []byte) (*gamesav1.Model, error) {
	m, err := neural.Decode(data, kind)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(m.GetContentHash(), hash) {
		return nil, fmt.Errorf("%w: content hash %x, want %x", neural.ErrCorruptModel, m.GetContentHash(), hash)
	}
	return m, nil
}

// put stores a verified file of kind under its hash.
func (s *modelStore) put(kind string, hash, data []byte) error {
	if _, err := verifyModel(data, kind, hash); err != nil {
		return fmt.Errorf("federated store: not storing %x: %w", hash, err)
	}
	if err := writeFileAtomic(s.path(hash), data); err != nil {
		return fmt.Errorf("federated store: %w", err)
	}
	return nil
}

// get returns the file of kind with content hash hash, checked; a file
// that fails the check is removed (errModelMissing).
func (s *modelStore) get(kind string, hash []byte) ([]byte, error) {
	data, err := os.ReadFile(s.path(hash))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errModelMissing
	}
	if err != nil {
		return nil, fmt.Errorf("federated store: %w", err)
	}
	if _, err := verifyModel(data, kind, hash); err != nil {
		if rerr := os.Remove(s.path(hash)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, fmt.Errorf("federated store: %x is damaged (%v) and could not be removed: %w", hash, err, rerr)
		}
		return nil, errModelMissing
	}
	return data, nil
}

// pruneAfter is how old a file must be before prune may remove it: a
// version just merged (or fetched) is stored before the list that names
// it is read.
const pruneAfter = 10 * time.Minute

// prune removes the version files whose hash is not in keep (the versions
// the cluster still remembers) once they are older than pruneAfter. Other
// files (a personalised copy, a write in progress) are left alone.
func (s *modelStore) prune(keep [][]byte, now time.Time) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("federated store: %w", err)
	}
	kept := make(map[string]bool, len(keep))
	for _, h := range keep {
		kept[hex.EncodeToString(h)+".model"] = true
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || kept[name] || !isVersionFile(name) {
			continue
		}
		if info, err := e.Info(); err != nil || now.Sub(info.ModTime()) < pruneAfter {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isVersionFile reports whether name is <64 hex digits>.model.
func isVersionFile(name string) bool {
	h, ok := strings.CutSuffix(name, ".model")
	if !ok || len(h) != 2*consensus.ModelHashLen {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}
