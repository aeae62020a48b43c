// Command pingpong measures ns per message for two goroutines bouncing an int over two unbuffered channels.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"runtime"
	"time"
)

func main() {
	n := flag.Int("n", 100000, "round trips (two messages each)")
	flag.Parse()

	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()

	start := time.Now()
	v := 0
	for i := 0; i < *n; i++ {
		ping <- v
		v = <-pong
	}
	elapsed := time.Since(start)
	close(ping)
	if v != *n {
		log.Fatalf("pingpong: got %d, want %d", v, *n)
	}

	messages := 2 * *n
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"program":    "pingpong",
		"n":          *n,
		"messages":   messages,
		"seconds":    elapsed.Seconds(),
		"ns_per_msg": float64(elapsed.Nanoseconds()) / float64(messages),
		"gomaxprocs": runtime.GOMAXPROCS(0),
		"go":         runtime.Version(),
	})
}
