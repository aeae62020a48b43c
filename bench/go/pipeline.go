// Command pipeline measures ns per message for N ints sent through K goroutine stages that each add 1.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"runtime"
	"time"
)

func stage(in <-chan int, out chan<- int) {
	for v := range in {
		out <- v + 1
	}
	close(out)
}

func main() {
	n := flag.Int("n", 100000, "messages sent by the source")
	k := flag.Int("k", 4, "stages between the source and the sink")
	capacity := flag.Int("cap", 128, "channel capacity (0: unbuffered)")
	flag.Parse()

	src := make(chan int, *capacity)
	in := src
	for i := 0; i < *k; i++ {
		out := make(chan int, *capacity)
		go stage(in, out)
		in = out
	}

	start := time.Now()
	go func() {
		for i := 0; i < *n; i++ {
			src <- i
		}
		close(src)
	}()
	sum := 0
	for v := range in {
		sum += v
	}
	elapsed := time.Since(start)
	if want := *n*(*n-1)/2 + *n**k; sum != want {
		log.Fatalf("pipeline: sum %d, want %d", sum, want)
	}

	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"program":    "pipeline",
		"n":          *n,
		"k":          *k,
		"cap":        *capacity,
		"messages":   *n,
		"seconds":    elapsed.Seconds(),
		"ns_per_msg": float64(elapsed.Nanoseconds()) / float64(*n),
		"gomaxprocs": runtime.GOMAXPROCS(0),
		"go":         runtime.Version(),
	})
}
