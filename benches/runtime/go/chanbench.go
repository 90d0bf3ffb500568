// Channel and mutex measurements in Go, for the side-by-side table of
// `cargo run --release -p oc-runtime-bench --bin sync-bench`.
//
// Usage: chanbench TEST, with TEST one of pingpong, mpmc, mutex_uncontended,
// mutex_contended. Prints "RESULT <nanoseconds per operation>". GOMAXPROCS sets the
// number of threads running goroutines (the harness sets it to WORKERS).
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

const (
	pingPongRounds = 200000
	producers      = 4
	consumers      = 4
	perProducer    = 100000
	uncontended    = 10000000
	contenders     = 4
	perContender   = 250000
)

func pingPong() float64 {
	ping := make(chan int, 1)
	pong := make(chan int, 1)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	for i := 0; i < 1000; i++ {
		ping <- i
		<-pong
	}
	start := time.Now()
	for i := 0; i < pingPongRounds; i++ {
		ping <- i
		<-pong
	}
	elapsed := time.Since(start)
	close(ping)
	return float64(elapsed.Nanoseconds()) / pingPongRounds
}

func mpmc() float64 {
	ch := make(chan int, 1024)
	var prod, cons sync.WaitGroup
	var total int64
	var mu sync.Mutex
	start := time.Now()
	for c := 0; c < consumers; c++ {
		cons.Add(1)
		go func() {
			var sum int64
			for v := range ch {
				sum += int64(v)
			}
			mu.Lock()
			total += sum
			mu.Unlock()
			cons.Done()
		}()
	}
	for p := 0; p < producers; p++ {
		prod.Add(1)
		go func() {
			for i := 0; i < perProducer; i++ {
				ch <- i
			}
			prod.Done()
		}()
	}
	prod.Wait()
	close(ch)
	cons.Wait()
	elapsed := time.Since(start)
	if total != int64(producers)*int64(perProducer)*int64(perProducer-1)/2 {
		panic("messages lost")
	}
	return float64(elapsed.Nanoseconds()) / float64(producers*perProducer)
}

func mutexUncontended() float64 {
	var mu sync.Mutex
	n := 0
	start := time.Now()
	for i := 0; i < uncontended; i++ {
		mu.Lock()
		n++
		mu.Unlock()
	}
	elapsed := time.Since(start)
	if n != uncontended {
		panic("bad count")
	}
	return float64(elapsed.Nanoseconds()) / uncontended
}

func mutexContended() float64 {
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 0
	start := time.Now()
	for c := 0; c < contenders; c++ {
		wg.Add(1)
		go func() {
			for i := 0; i < perContender; i++ {
				mu.Lock()
				n++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n != contenders*perContender {
		panic("bad count")
	}
	return float64(elapsed.Nanoseconds()) / float64(contenders*perContender)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: chanbench pingpong|mpmc|mutex_uncontended|mutex_contended")
		os.Exit(2)
	}
	var v float64
	switch os.Args[1] {
	case "pingpong":
		v = pingPong()
	case "mpmc":
		v = mpmc()
	case "mutex_uncontended":
		v = mutexUncontended()
	case "mutex_contended":
		v = mutexContended()
	default:
		fmt.Fprintln(os.Stderr, "unknown test", os.Args[1])
		os.Exit(2)
	}
	fmt.Printf("RESULT %.1f\n", v)
}
