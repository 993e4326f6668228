package pgstore_test

import (
	"fmt"
	"strings"

	"github.com/taskflow-go/taskflow/storage/pgstore"
)

// MigrationSQL gives the statements that take the tables from one version
// to another (here, from none to the first; len(pgstore.Migrations()) is
// the latest), for a team that runs migrations with its own tool.
func ExampleMigrationSQL() {
	versions := pgstore.Migrations()
	sql, err := pgstore.MigrationSQL(0, 1, pgstore.Schema("jobs"))
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.SplitN(sql, "\n", 2)[0])
	fmt.Println(strings.Contains(sql, `CREATE TABLE "jobs".jobs (`))
	fmt.Println(versions[0].Version, versions[0].Name)
	// Output:
	// -- taskflow schema "jobs": version 0 to 1.
	// true
	// 1 init
}
