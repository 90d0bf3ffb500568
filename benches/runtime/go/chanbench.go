// Channel and mutex measurements in Go, for the side-by-side table of
// `cargo run --release -p oc-runtime-bench --bin sync-bench`.
//
// Usage: chanbench TEST, with TEST one of pingpong, mpmc, mutex_uncontended,
// mutex_contended. Prints "RESULT <wall ns per operation> <process CPU ns per operation>"
// (CPU: user + system time of every thread, from getrusage). GOMAXPROCS sets the
// number of threads running goroutines (the harness sets it to WORKERS).
package main

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// clocks is a reading of the wall clock and of the process CPU time.
type clocks struct {
	wall time.Time
	cpu  int64
}

func cpuNanos() int64 {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		panic(err)
	}
	return r.Utime.Nano() + r.Stime.Nano()
}

func now() clocks {
	return clocks{time.Now(), cpuNanos()}
}

// perOp returns wall and CPU nanoseconds per operation since start.
func perOp(start clocks, ops int) (float64, float64) {
	wall := float64(time.Since(start.wall).Nanoseconds()) / float64(ops)
	cpu := float64(cpuNanos()-start.cpu) / float64(ops)
	return wall, cpu
}

const (
	pingPongRounds = 200000
	producers      = 4
	consumers      = 4
	perProducer    = 100000
	uncontended    = 10000000
	contenders     = 4
	perContender   = 250000
)

func pingPong() (float64, float64) {
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
	start := now()
	for i := 0; i < pingPongRounds; i++ {
		ping <- i
		<-pong
	}
	wall, cpu := perOp(start, pingPongRounds)
	close(ping)
	return wall, cpu
}

func mpmc() (float64, float64) {
	ch := make(chan int, 1024)
	var prod, cons sync.WaitGroup
	var total int64
	var mu sync.Mutex
	start := now()
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
	wall, cpu := perOp(start, producers*perProducer)
	if total != int64(producers)*int64(perProducer)*int64(perProducer-1)/2 {
		panic("messages lost")
	}
	return wall, cpu
}

func mutexUncontended() (float64, float64) {
	var mu sync.Mutex
	n := 0
	start := now()
	for i := 0; i < uncontended; i++ {
		mu.Lock()
		n++
		mu.Unlock()
	}
	wall, cpu := perOp(start, uncontended)
	if n != uncontended {
		panic("bad count")
	}
	return wall, cpu
}

func mutexContended() (float64, float64) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 0
	start := now()
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
	wall, cpu := perOp(start, contenders*perContender)
	if n != contenders*perContender {
		panic("bad count")
	}
	return wall, cpu
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: chanbench pingpong|mpmc|mutex_uncontended|mutex_contended")
		os.Exit(2)
	}
	var wall, cpu float64
	switch os.Args[1] {
	case "pingpong":
		wall, cpu = pingPong()
	case "mpmc":
		wall, cpu = mpmc()
	case "mutex_uncontended":
		wall, cpu = mutexUncontended()
	case "mutex_contended":
		wall, cpu = mutexContended()
	default:
		fmt.Fprintln(os.Stderr, "unknown test", os.Args[1])
		os.Exit(2)
	}
	fmt.Printf("RESULT %.1f %.1f\n", wall, cpu)
}
