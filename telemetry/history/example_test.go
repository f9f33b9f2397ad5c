package history_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry/history"
)

// The node's loop appends each tick's sample to a ring and a recorder;
// readers ask Query for a range.
func Example() {
	dir, err := os.MkdirTemp("", "history")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ring, err := history.NewRing(600, 10*time.Minute) // 10 min at 1 Hz
	if err != nil {
		log.Fatal(err)
	}
	rec, err := history.Open(filepath.Join(dir, "history.db"), history.DefaultRecorderOptions())
	if err != nil {
		log.Fatal(err) // errors.Is(err, history.ErrCorrupt): move the file aside, open a fresh one
	}
	defer rec.Close()

	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 900 { // 15 min of ticks
		s := &gamesav1.Sample{Time: timestamppb.New(start.Add(time.Duration(i) * time.Second)), Seq: uint64(i + 1)}
		// The sample is shared from here on: neither the loop nor a reader
		// may change it.
		if err := ring.Append(s); err != nil {
			log.Print(err)
		}
		if err := rec.Append(s); err != nil {
			log.Print(err)
		}
	}

	// The last minute comes from the ring, the first from the recorder.
	recent, _, _ := history.Query(ring, rec, start.Add(14*time.Minute), start.Add(15*time.Minute), 1000)
	early, truncated, _ := history.Query(ring, rec, start, start.Add(time.Minute), 10)
	fmt.Println(len(recent), recent[0].GetSeq())
	fmt.Println(len(early), truncated, early[0].GetSeq())
	// Output:
	// 60 841
	// 10 true 1
}
