package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
)

// SQLite has no time type: the driver writes a time.Time as text in the value's own zone
// ("2006-01-02 15:04:05.999-07:00") and compares those strings. A query argument in
// local time (time.Now() on a server in Asia/Shanghai) against a value stored in UTC
// would then be off by the zone offset, e.g. sessions or deliveries expiring hours early.
// The MySQL driver converts arguments to its loc (UTC) for us; these wrappers do the
// same for SQLite so that every time argument, from our code or a library, is UTC.

// openUTCSQLite returns a pool whose connections store every time argument in UTC.
func openUTCSQLite(dsn string) *sql.DB {
	return sql.OpenDB(utcConnector{dsn: dsn, driver: &gosqlite.Driver{}})
}

type utcConnector struct {
	dsn    string
	driver *gosqlite.Driver
}

func (c utcConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	full, ok := conn.(sqliteConn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("sqlite driver connection %T lacks the context methods", conn)
	}
	return utcConn{full}, nil
}

func (c utcConnector) Driver() driver.Driver { return c.driver }

// sqliteConn is the set of driver interfaces the SQLite connection implements; embedding
// it keeps them all visible to database/sql through the wrapper.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
}

type utcConn struct{ sqliteConn }

// CheckNamedValue applies database/sql's default conversion, then moves times to UTC.
func (utcConn) CheckNamedValue(nv *driver.NamedValue) error {
	v, err := driver.DefaultParameterConverter.ConvertValue(nv.Value)
	if err != nil {
		return err
	}
	if t, ok := v.(time.Time); ok {
		v = t.UTC()
	}
	nv.Value = v
	return nil
}
