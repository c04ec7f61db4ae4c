package pgtest

import (
	"context"
	"strings"
	"testing"
)

// TestSchemaDroppedWithItsTest: the schema exists during the test that made
// it and is gone, with its tables, once that test has ended. The rule
// itself (skip when unset, fail when unreachable) is checked from outside
// by the packages that use it (RunSelf), since a test cannot watch its own
// skip.
func TestSchemaDroppedWithItsTest(t *testing.T) {
	dsn := DSN(t)
	exists := func(schema string) bool {
		c := Connect(t, dsn)
		defer c.Close(context.Background())
		var n int
		if err := c.QueryRow(context.Background(), "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	var schema string
	t.Run("user", func(t *testing.T) {
		var sdsn string
		sdsn, schema = Schema(t, "pgtest")
		if sdsn != dsn || !strings.HasPrefix(schema, "pgtest_") || len(schema) != len("pgtest_")+12 {
			t.Fatalf("Schema = %q, %q", sdsn, schema)
		}
		c := Connect(t, dsn)
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "CREATE TABLE "+schema+".t (x int)"); err != nil {
			t.Fatal(err)
		}
		if !exists(schema) {
			t.Fatalf("schema %s does not exist during its test", schema)
		}
	})
	if exists(schema) {
		t.Fatalf("schema %s outlived its test", schema)
	}
}
