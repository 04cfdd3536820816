package registry_test

import (
	"testing"

	"github.com/lambda-platform/lambda/inference/ortenv"
)

func TestMain(m *testing.M) { ortenv.Main(m) }
