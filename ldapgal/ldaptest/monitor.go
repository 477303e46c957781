package ldaptest

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

const modifyOpsDN = "cn=Modify,cn=Operations,cn=Monitor"

// settleTimeout bounds how long ModifyCount waits for in-flight modifies to be counted.
const settleTimeout = 2 * time.Second

// ModifyCount returns how many modify operations slapd has completed (monitorOpCompleted of
// cn=Modify,cn=Operations,cn=Monitor), counting every modify of every client, failed ones
// included; adds, deletes and searches do not count.
//
// slapd sends the modify response before it counts the operation as completed, so a read right
// after a modify can miss it. ModifyCount therefore waits (up to 2 s) until the initiated and
// completed counters agree, i.e. no modify is in flight.
func (s *Slapd) ModifyCount(t testing.TB) int {
	t.Helper()
	var completed int
	s.do(t, "read "+modifyOpsDN, func(c *ldap.Conn) error {
		deadline := time.Now().Add(settleTimeout)
		for {
			initiated, done, err := readOpCounters(c)
			if err != nil {
				return err
			}
			completed = done
			if initiated == done || time.Now().After(deadline) {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return completed
}

func readOpCounters(c *ldap.Conn) (initiated, completed int, err error) {
	res, err := c.Search(ldap.NewSearchRequest(modifyOpsDN, ldap.ScopeBaseObject,
		ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)",
		[]string{"monitorOpInitiated", "monitorOpCompleted"}, nil))
	if err != nil {
		return 0, 0, err
	}
	if len(res.Entries) != 1 {
		return 0, 0, fmt.Errorf("got %d entries", len(res.Entries))
	}
	e := res.Entries[0]
	if initiated, err = strconv.Atoi(e.GetAttributeValue("monitorOpInitiated")); err != nil {
		return 0, 0, fmt.Errorf("monitorOpInitiated: %w", err)
	}
	if completed, err = strconv.Atoi(e.GetAttributeValue("monitorOpCompleted")); err != nil {
		return 0, 0, fmt.Errorf("monitorOpCompleted: %w", err)
	}
	return initiated, completed, nil
}
