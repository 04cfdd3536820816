package main

import (
	"fmt"
	"slices"
	"strings"
)

// role is one component `lambda up --roles` can run; a process runs the roles it is
// given, with the same configuration whichever they are.
type role string

const (
	roleBroker    role = "broker"
	roleAPI       role = "api"
	roleSpeed     role = "speed"
	roleArchiver  role = "archiver"
	roleScheduler role = "scheduler"
	roleForwarder role = "forwarder"
	roleKappa     role = "kappa"
)

type roleInfo struct {
	name role
	what string
}

// allRoles are the roles in the order `lambda up -h` lists them, with what each runs.
var allRoles = []roleInfo{
	{roleBroker, "the embedded Kafka broker on LAMBDA_KAFKA_EMBEDDED_ADDR (only without LAMBDA_KAFKA_BROKERS; processes without this role connect to it there)"},
	{roleAPI, "the HTTP API (stateless: any number of replicas; a batch run triggered over REST executes in the replica that took it)"},
	{roleSpeed, "the speed layer, one member of its consumer group (up to one per partition)"},
	{roleArchiver, "the archiver, one member of its consumer group"},
	{roleScheduler, "the batch schedule (any number of replicas: the batch lock lets one run start per firing; runs execute here)"},
	{roleForwarder, "the forwarder: events off their home partition copied home, invalid ones dead-lettered"},
	{roleKappa, "the Kappa replays' jobs"},
}

// lambdaOnly are the roles of the batch and speed layers, which the Kappa architecture lacks.
var lambdaOnly = []role{roleSpeed, roleArchiver, roleScheduler}

// roleSet is the roles a process runs.
type roleSet map[role]bool

// parseRoles reads --roles: names from allRoles, or "all" (the default). "all" leaves out
// what has no work here: the broker when brokers are given (embedded is false), the
// batch and speed layers in the Kappa architecture; naming one of those is an error.
func parseRoles(names []string, embedded, kappaMode bool) (roleSet, error) {
	rs := roleSet{}
	for _, n := range names {
		if n == "all" {
			for _, r := range allRoles {
				rs[r.name] = true
			}
			if !embedded {
				delete(rs, roleBroker)
			}
			if kappaMode {
				for _, r := range lambdaOnly {
					delete(rs, r)
				}
			}
			continue
		}
		r := role(n)
		switch {
		case !slices.ContainsFunc(allRoles, func(a roleInfo) bool { return a.name == r }):
			return nil, fmt.Errorf("--roles: unknown role %q; want some of %s, or all", n, roleNames())
		case r == roleBroker && !embedded:
			return nil, fmt.Errorf("--roles: role %s runs the embedded broker, but LAMBDA_KAFKA_BROKERS names brokers", r)
		case kappaMode && slices.Contains(lambdaOnly, r):
			return nil, fmt.Errorf("--roles: role %s has no work in the Kappa architecture (LAMBDA_ARCHITECTURE=kappa)", r)
		}
		rs[r] = true
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("--roles: none given; want some of %s, or all", roleNames())
	}
	return rs, nil
}

// needsDatabases reports whether a role reads or writes PostgreSQL or ClickHouse: the
// process then migrates and opens them. The broker and the forwarder need Kafka only.
func (rs roleSet) needsDatabases() bool {
	return rs[roleAPI] || rs[roleSpeed] || rs[roleArchiver] || rs[roleScheduler] || rs[roleKappa]
}

// runsBatches reports whether batch runs execute in the process: the scheduler's, and
// the API's REST-triggered ones.
func (rs roleSet) runsBatches() bool { return rs[roleAPI] || rs[roleScheduler] }

// String lists the roles in allRoles' order.
func (rs roleSet) String() string {
	var out []string
	for _, r := range allRoles {
		if rs[r.name] {
			out = append(out, string(r.name))
		}
	}
	return strings.Join(out, ",")
}

func roleNames() string {
	out := make([]string, len(allRoles))
	for i, r := range allRoles {
		out[i] = string(r.name)
	}
	return strings.Join(out, ", ")
}

// rolesUsage documents the roles for `lambda up -h`.
func rolesUsage() string {
	var b strings.Builder
	b.WriteString("\n\nRoles (--roles, LAMBDA_ROLES; default all):\n")
	for _, r := range allRoles {
		fmt.Fprintf(&b, "  %-10s %s\n", r.name, r.what)
	}
	b.WriteString("Every process of one platform takes the same LAMBDA_* settings; each migrates the databases (concurrent\n" +
		"migrations are safe) and creates the topics if missing. Exactly one process runs the broker role when\n" +
		"LAMBDA_KAFKA_BROKERS is empty; the others reach it at LAMBDA_KAFKA_EMBEDDED_ADDR. A process without the api\n" +
		"role serves /metrics on --metrics-addr.")
	return b.String()
}
