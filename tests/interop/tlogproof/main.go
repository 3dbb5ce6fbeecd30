// Command tlogproof checks runid evidence with Go's golang.org/x/mod/sumdb packages, code not
// written for runid.
//
//	tlogproof proof PROOF ENVELOPE LOG_VKEY
//
// reads a bare C2SP tlog-proof (c2sp.org/tlog-proof@v1: index, hashes, an empty line, the
// signed checkpoint), opens the checkpoint with note.Open and the log's verifier key, and
// checks with tlog.CheckRecord that the envelope file (the log leaf) is the entry at the
// index of that tree (tlog.RecordHash is the RFC 6962 leaf hash).
//
//	tlogproof manifest MANIFEST_SIG MANIFEST LOG_VKEY
//
// opens an evidence bundle's manifest signature with note.Open and checks that its text names
// the SHA-256 of the manifest file.
//
// Build (Debian packages golang-go and golang-golang-x-mod-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlogproof main.go
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tlogproof: "+format+"\n", args...)
	os.Exit(1)
}

func verifiers(vkey string) note.Verifiers {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		fail("verifier key: %v", err)
	}
	return note.VerifierList(v)
}

func read(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return data
}

func checkProof(proofPath, envelopePath, vkey string) {
	text := string(read(proofPath))
	head, signed, found := strings.Cut(text, "\n\n")
	if !found {
		fail("%s: no empty line before the checkpoint", proofPath)
	}
	lines := strings.Split(head, "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		fail("%s: not a tlog-proof", proofPath)
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		fail("%s: no index line", proofPath)
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "index "), 10, 64)
	if err != nil {
		fail("%s: index: %v", proofPath, err)
	}
	var proof tlog.RecordProof
	for _, line := range lines[1:] {
		raw, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(raw) != tlog.HashSize {
			fail("%s: proof hash %q", proofPath, line)
		}
		var h tlog.Hash
		copy(h[:], raw)
		proof = append(proof, h)
	}
	n, err := note.Open([]byte(signed), verifiers(vkey))
	if err != nil {
		fail("%s: checkpoint: %v", proofPath, err)
	}
	cp := strings.Split(n.Text, "\n")
	if len(cp) < 4 {
		fail("%s: not a checkpoint", proofPath)
	}
	size, err := strconv.ParseInt(cp[1], 10, 64)
	if err != nil {
		fail("%s: tree size: %v", proofPath, err)
	}
	root, err := base64.StdEncoding.DecodeString(cp[2])
	if err != nil || len(root) != tlog.HashSize {
		fail("%s: root hash", proofPath)
	}
	var rootHash tlog.Hash
	copy(rootHash[:], root)
	leaf := tlog.RecordHash(read(envelopePath))
	if err := tlog.CheckRecord(proof, size, rootHash, index, leaf); err != nil {
		fail("%s: inclusion: %v", proofPath, err)
	}
	fmt.Printf("ok: entry %d of %s at tree size %d\n", index, cp[0], size)
}

func checkManifest(sigPath, manifestPath, vkey string) {
	n, err := note.Open(read(sigPath), verifiers(vkey))
	if err != nil {
		fail("%s: %v", sigPath, err)
	}
	sum := sha256.Sum256(read(manifestPath))
	want := "runid/evidence/v1\nmanifest.json sha256:" + hex.EncodeToString(sum[:]) + "\n"
	if n.Text != want {
		fail("%s: does not name the manifest's SHA-256", sigPath)
	}
	fmt.Printf("ok: manifest signed by %s\n", n.Sigs[0].Name)
}

func main() {
	if len(os.Args) != 5 {
		fail("usage: tlogproof proof PROOF ENVELOPE LOG_VKEY | manifest MANIFEST_SIG MANIFEST LOG_VKEY")
	}
	vkey := os.Args[4]
	if data, err := os.ReadFile(vkey); err == nil {
		vkey = string(data)
	}
	switch os.Args[1] {
	case "proof":
		checkProof(os.Args[2], os.Args[3], vkey)
	case "manifest":
		checkManifest(os.Args[2], os.Args[3], vkey)
	default:
		fail("unknown mode %q", os.Args[1])
	}
}
