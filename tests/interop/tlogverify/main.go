// Command tlogverify checks a directory of C2SP tlog-tiles with Go's golang.org/x/mod/sumdb
// packages, code not written for runid: note.Open verifies the checkpoint's signature with the
// log's verifier key (other signature lines, such as witness cosignatures, are ignored), a
// tlog.TileHashReader reads the tiles and authenticates them against the signed tree,
// tlog.TreeHash recomputes the root, every entry of the entry bundles is proven with
// tlog.ProveRecord and checked with tlog.CheckRecord, and each older checkpoint given is
// proven consistent with tlog.ProveTree and tlog.CheckTree.
//
// Usage: tlogverify DIR LOG_VKEY [OLD_CHECKPOINT...]
//
// Build (Debian packages golang-go and golang-golang-x-mod-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlogverify main.go
package main

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

// tiles reads C2SP tile paths: tile/<L>/<N> and tile/entries/<N> (Go's own paths carry the
// height, tile/8/<L>/<N>, and call entries "data").
type tiles struct{ dir string }

func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
	if t.L == -1 {
		p = "entries/" + strings.TrimPrefix(p, "data/")
	}
	return filepath.Join("tile", p)
}

func (d tiles) Height() int { return height }

func (d tiles) ReadTiles(list []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(list))
	for i, t := range list {
		data, err := os.ReadFile(filepath.Join(d.dir, c2spPath(t)))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d tiles) SaveTiles([]tlog.Tile, [][]byte) {}

func openCheckpoint(path string, verifiers note.Verifiers) (string, tlog.Tree, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", tlog.Tree{}, 0, err
	}
	n, err := note.Open(data, verifiers)
	if err != nil {
		return "", tlog.Tree{}, 0, fmt.Errorf("%s: %v", path, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		return "", tlog.Tree{}, 0, fmt.Errorf("%s: not a checkpoint", path)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return "", tlog.Tree{}, 0, fmt.Errorf("%s: tree size: %v", path, err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return "", tlog.Tree{}, 0, fmt.Errorf("%s: root hash", path)
	}
	var tree tlog.Tree
	tree.N = size
	copy(tree.Hash[:], root)
	return lines[0], tree, len(n.UnverifiedSigs), nil
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: tlogverify DIR LOG_VKEY [OLD_CHECKPOINT...]")
	}
	dir := os.Args[1]
	verifier, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("verifier key: %v", err)
	}
	verifiers := note.VerifierList(verifier)
	origin, tree, others, err := openCheckpoint(filepath.Join(dir, "checkpoint"), verifiers)
	if err != nil {
		fail("checkpoint: %v", err)
	}
	fmt.Printf("checkpoint: %s size %d root %s (signature verified by sumdb/note; %d other signature lines ignored)\n",
		origin, tree.N, tree.Hash, others)
	reader := tlog.TileHashReader(tree, tiles{dir})
	root, err := tlog.TreeHash(tree.N, reader)
	if err != nil {
		fail("tree hash from tiles: %v", err)
	}
	if root != tree.Hash {
		fail("tree hash from tiles %s, checkpoint says %s", root, tree.Hash)
	}
	fmt.Printf("tree hash: recomputed from the tiles by tlog.TreeHash, equal to the checkpoint's\n")
	checked := int64(0)
	for start := int64(0); start < tree.N; start += 1 << height {
		width := tree.N - start
		if width > 1<<height {
			width = 1 << height
		}
		bundle := tlog.Tile{H: height, L: -1, N: start >> height, W: int(width)}
		data, err := os.ReadFile(filepath.Join(dir, c2spPath(bundle)))
		if err != nil {
			fail("entry bundle: %v", err)
		}
		for j := int64(0); j < width; j++ {
			if len(data) < 2 {
				fail("%s: truncated at entry %d", c2spPath(bundle), j)
			}
			size := int(binary.BigEndian.Uint16(data))
			if len(data) < 2+size {
				fail("%s: truncated at entry %d", c2spPath(bundle), j)
			}
			entry := data[2 : 2+size]
			data = data[2+size:]
			index := start + j
			proof, err := tlog.ProveRecord(tree.N, index, reader)
			if err != nil {
				fail("ProveRecord(%d): %v", index, err)
			}
			if err := tlog.CheckRecord(proof, tree.N, tree.Hash, index, tlog.RecordHash(entry)); err != nil {
				fail("CheckRecord(entry %d): %v", index, err)
			}
			checked++
		}
		if len(data) != 0 {
			fail("%s: %d bytes after the last entry", c2spPath(bundle), len(data))
		}
	}
	fmt.Printf("inclusion: %d entries read from the entry bundles, each proven (ProveRecord) and checked (CheckRecord)\n", checked)
	for _, path := range os.Args[3:] {
		oldOrigin, old, _, err := openCheckpoint(path, verifiers)
		if err != nil {
			fail("old checkpoint: %v", err)
		}
		if oldOrigin != origin {
			fail("%s: origin %q, not %q", path, oldOrigin, origin)
		}
		if old.N > tree.N {
			fail("consistency: old size %d is larger than %d", old.N, tree.N)
		}
		if old.N == tree.N || old.N == 0 {
			if old.N == tree.N && old.Hash != tree.Hash {
				fail("consistency: size %d has two roots", old.N)
			}
			fmt.Printf("consistency: size %d -> %d (trivial)\n", old.N, tree.N)
			continue
		}
		proof, err := tlog.ProveTree(tree.N, old.N, reader)
		if err != nil {
			fail("ProveTree(%d, %d): %v", tree.N, old.N, err)
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, old.N, old.Hash); err != nil {
			fail("CheckTree(%d -> %d): %v", old.N, tree.N, err)
		}
		fmt.Printf("consistency: size %d -> %d proven (ProveTree) and checked (CheckTree)\n", old.N, tree.N)
	}
	fmt.Println("OK")
}
