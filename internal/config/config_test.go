package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/config"
)

func TestPrecedenceFlagOverEnvOverDefault(t *testing.T) {
	t.Setenv("LAMBDA_TEST_NAME", "from-env")
	t.Setenv("LAMBDA_TEST_N", "7")
	var name, other string
	var n int
	var d time.Duration
	var list []string
	f := config.NewFlags("t", "test")
	f.String(&name, "name", "LAMBDA_TEST_NAME", "default", "")
	f.String(&other, "other", "LAMBDA_TEST_UNSET", "default", "")
	f.Int(&n, "n", "LAMBDA_TEST_N", 1, "")
	f.Duration(&d, "d", "LAMBDA_TEST_D", time.Second, "")
	f.List(&list, "list", "LAMBDA_TEST_LIST", "a, b,,c", "")
	if err := f.Parse([]string{"-n", "9"}); err != nil {
		t.Fatal(err)
	}
	if name != "from-env" || other != "default" || n != 9 || d != time.Second || strings.Join(list, "|") != "a|b|c" {
		t.Errorf("got name=%q other=%q n=%d d=%s list=%q", name, other, n, d, list)
	}
}

func TestMalformedEnvIsAnError(t *testing.T) {
	t.Setenv("LAMBDA_TEST_N", "seven")
	t.Setenv("LAMBDA_TEST_D", "soon")
	var n int
	var d time.Duration
	f := config.NewFlags("t", "test")
	f.Int(&n, "n", "LAMBDA_TEST_N", 1, "")
	f.Duration(&d, "d", "LAMBDA_TEST_D", time.Second, "")
	err := f.Parse(nil)
	if err == nil || !strings.Contains(err.Error(), `LAMBDA_TEST_N="seven": not an integer`) || !strings.Contains(err.Error(), "LAMBDA_TEST_D") {
		t.Errorf("Parse error = %v, want one naming both variables", err)
	}
}

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@db:5432/lambda?sslmode=disable":     "postgres://u:***@db:5432/lambda?sslmode=disable",
		"postgres://u@db/lambda":                                 "postgres://u@db/lambda",
		"host=db user=u":                                         "host=db user=u",
		"host=db password=secret user=u":                         "host=db password=*** user=u",
		"host=db sslpassword='a b' user=u":                       "host=db sslpassword=*** user=u",
		"postgres://u@db/lambda?password=secret&sslmode=require": "postgres://u@db/lambda?password=***&sslmode=require",
		"postgres://u:secret@db/lambda?sslpassword=other":        "postgres://u:***@db/lambda?sslpassword=***",
		"postgres://u:sec%zzret@db/lambda":                       "postgres://(a URL that does not parse, not shown)",
	} {
		if got := config.MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKafkaEmbedded(t *testing.T) {
	k := config.Kafka{EmbeddedAddr: "127.0.0.1:9092"}
	if !k.Embedded() || k.BootstrapBrokers()[0] != "127.0.0.1:9092" {
		t.Errorf("no brokers: embedded=%v brokers=%v", k.Embedded(), k.BootstrapBrokers())
	}
	k.Brokers = []string{"kafka-1:9092"}
	if k.Embedded() || k.BootstrapBrokers()[0] != "kafka-1:9092" {
		t.Errorf("with brokers: embedded=%v brokers=%v", k.Embedded(), k.BootstrapBrokers())
	}
}
