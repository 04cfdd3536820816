package cost

import (
	"runtime"
	"syscall"
)

// rusageThread is Linux's RUSAGE_THREAD, which package syscall does not name.
const rusageThread = 1

// OnThread runs f with its goroutine locked to one OS thread and returns the CPU
// seconds (user + system) that thread spent in it. Several components share one
// process in `lambda up`, so the process's own clock cannot tell their costs apart;
// the thread's can, for the work f does itself. Work f hands to other goroutines
// (a client's background readers, the garbage collector's workers) is not counted.
func OnThread(f func()) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadCPU()
	f()
	return threadCPU() - before
}

func threadCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}
