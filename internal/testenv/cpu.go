package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Comm values (/proc/<pid>/comm, cut at 15 bytes) of the servers benchmarks account
// CPU time to.
const (
	PostgresComm   = "postgres"
	ClickHouseComm = "clickhouse-serv"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// SelfCPU is the CPU time this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcessCPU is the CPU time process pid has used so far (0 if it cannot be read).
func ProcessCPU(pid int) time.Duration { return procCPU(pid, false) }

// ServerCPU is the CPU time every process on this machine named comm has used, with
// the children that exited of each one whose parent has another name (a postmaster's
// backends): the CPU a local server has spent, to compare before and after a
// benchmark step. It is 0 when the server runs elsewhere.
func ServerCPU(comm string) time.Duration {
	dirs, _ := os.ReadDir("/proc")
	var total time.Duration
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || readComm(d.Name()) != comm {
			continue
		}
		total += procCPU(pid, readComm(statFields(pid)[1]) != comm)
	}
	return total
}

// procCPU is the CPU time process pid has used, and with children, that of its
// children it has waited for.
func procCPU(pid int, children bool) time.Duration {
	f := statFields(pid)
	last := 13 // utime and stime are fields 14 and 15 of stat, cutime and cstime 16 and 17
	if children {
		last = 15
	}
	if len(f) < last {
		return 0
	}
	var ticks int64
	for _, s := range f[11:last] {
		n, _ := strconv.ParseInt(s, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// statFields are /proc/<pid>/stat's fields after the command (whose parentheses may
// hold spaces), from the state (field 3) on: f[1] is the parent's pid.
func statFields(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	i := strings.LastIndexByte(string(b), ')')
	if err != nil || i < 0 || i+2 > len(b) {
		return []string{"", ""}
	}
	return strings.Fields(string(b[i+2:]))
}

// readComm is process pid's name, "" if it cannot be read.
func readComm(pid string) string {
	b, _ := os.ReadFile(filepath.Join("/proc", pid, "comm"))
	return strings.TrimSpace(string(b))
}
