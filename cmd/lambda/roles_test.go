package main

import (
	"strings"
	"testing"
)

func TestParseRoles(t *testing.T) {
	for _, c := range []struct {
		names           []string
		embedded, kappa bool
		want, err       string
	}{
		{names: []string{"all"}, embedded: true, want: "broker,api,speed,archiver,scheduler,forwarder,kappa"},
		{names: []string{"all"}, want: "api,speed,archiver,scheduler,forwarder,kappa"},
		{names: []string{"all"}, embedded: true, kappa: true, want: "broker,api,forwarder,kappa"},
		{names: []string{"scheduler", "api", "api"}, want: "api,scheduler"},
		{names: []string{"broker"}, embedded: true, want: "broker"},
		{names: []string{"broker"}, err: "LAMBDA_KAFKA_BROKERS"},
		{names: []string{"speed"}, kappa: true, err: "Kappa architecture"},
		{names: []string{"web"}, err: `unknown role "web"`},
		{names: nil, err: "none given"},
	} {
		rs, err := parseRoles(c.names, c.embedded, c.kappa)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseRoles(%v, embedded %v, kappa %v): %v, want an error with %q", c.names, c.embedded, c.kappa, err, c.err)
		case c.err == "" && (err != nil || rs.String() != c.want):
			t.Errorf("parseRoles(%v, embedded %v, kappa %v) = %v, %v; want %s", c.names, c.embedded, c.kappa, rs, err, c.want)
		}
	}
}
