package sync

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/internal/mailaddr"
	"github.com/certgal/certgal/internal/parallel"
	"github.com/certgal/certgal/internal/slots"
)

// Policy is the part of the configuration the reconcile rules read.
type Policy struct {
	KeepAll      bool
	ExpiredGrace time.Duration
	MaxValues    int
	// MaxDeletes stops a plan that removes more values; 0 forbids removals.
	MaxDeletes int
	// MaxValueBytes is the largest value the directory accepts (AD: 32768); 0 is no limit.
	MaxValueBytes int
	// SMIME is what becomes of userSMIMECertificate blobs (policy.smime_attribute).
	SMIME SMIMEMode
	// SMIMEWholeAttribute says the directory can only replace or delete
	// userSMIMECertificate whole, never one value (OpenLDAP: no equality rule).
	SMIMEWholeAttribute bool
	// CertMatchByIssuerSerial says the directory's equality for
	// userCertificate is issuer and serial (OpenLDAP: certificateExactMatch),
	// so deleting one value deletes whatever value has its issuer and serial.
	CertMatchByIssuerSerial bool
}

// Known is a certificate the CA store knows, with the store's verdict.
type Known struct {
	Cert   *Cert
	Status certsource.Status
}

// User is a directory entry with its values classified.
type User struct {
	DN        string
	Addresses []string
	Values    []*Cert
	// SMIME are the user's userSMIMECertificate blobs.
	SMIME []*Blob
	// CSN is Entry.CSN: what a write of the user's plan asserts.
	CSN string
}

// Input is everything Calculate decides from. It holds values only; building it
// is the pass's job, so the rules can be tested without a server.
type Input struct {
	Known []Known
	// Revoked holds issuer+serial pairs revoked by a verified CRL.
	Revoked map[certsource.IssuerID]map[string]bool
	// Frozen issuers' certificates are neither added nor removed (see certsource.Snapshot).
	Frozen map[certsource.IssuerID]string
	Users  []User
	Policy Policy
	Now    time.Time
	// Report asks for Plan.Report, a line per user (`certgal report`).
	Report bool
}

// Calculate is the reconcile: what to add to and remove from each user, and
// what to skip and why. It is a pure function of its input: it reads nothing,
// so a userSMIMECertificate blob it plans has no DER yet (Plan.encodeBlobs).
func Calculate(in Input) *Plan {
	return newCalculator(in).plan()
}

func (c *calculator) plan() *Plan {
	in := c.in
	p := &Plan{Skips: append([]Change(nil), c.skips...)}
	taken := 0
	n := c.users.len()
	// Nearly every user of a directory certgal serves has a certificate:
	// sized up front, the list is not copied as it grows (docs/BENCHMARKS.md,
	// "Figures moved out of code comments").
	p.Published = make([]Published, 0, n)
	if in.Report {
		p.Report = make([]UserReport, 0, n)
	}
	c.planUsers(func(r *userPlan) {
		if in.Report {
			p.Report = append(p.Report, *r.report)
		}
		if len(r.e.desired) > 0 {
			p.UsersWithCertificate++
		}
		for _, x := range r.e.desired { // a certificate is one user's: counted once
			for i, w := range expiryWindows {
				if x.NotAfter().Sub(in.Now) < w.d {
					p.Expiring[i]++
				}
			}
		}
		r.detach()
		p.Skips = append(p.Skips, r.skips...)
		p.Published = appendPublished(p.Published, &r.e)
		taken += r.e.keysTaken()
		if !r.e.empty() {
			p.Entries = append(p.Entries, r.e)
		}
	})
	p.sort()
	switch {
	case c.storeCerts == 0 && c.ownedValues > 0:
		p.hold(fmt.Sprintf("the CA store returned no certificates while the directory holds %d values issued by trusted CAs", c.ownedValues), false)
	case taken > in.Policy.MaxDeletes:
		c.onlyRevocations = true
		p.hold(fmt.Sprintf("%d removals would leave an address without its key, more than policy.max_deletes (%d); only revocations are written", taken, in.Policy.MaxDeletes), true)
	}
	return p
}

// userPlan is planUser's result for one user.
type userPlan struct {
	e      EntryPlan
	skips  []Change
	report *UserReport // with Input.Report: a pointer, as a pass plans 100,000 users without it
}

// detach gives the lines the plan keeps of a user (its entry's, its skips)
// a DN of their own: the user's is a slice of the chunks the directory's
// read carved it from (Directory.Users), which would otherwise all stay in
// memory through the writes for the few entries written.
func (r *userPlan) detach() {
	dn := r.e.DN
	if r.e.empty() && len(r.skips) == 0 {
		return
	}
	own := strings.Clone(dn)
	r.e.DN = own
	for _, l := range [][]Change{r.e.Adds, r.e.Removes, r.e.SMIMEAdds, r.e.SMIMERemoves, r.skips} {
		for i := range l {
			if l[i].DN == dn {
				l[i].DN = own
			}
		}
	}
}

// parallelMin is the amount of work (users to plan, certificates to
// classify) from which everyCore uses every core.
var parallelMin = 1000

// planChunk is how many users planUsers plans before it hands them on: a
// userPlan of every user at once is a large list that is garbage as soon as
// the plan is built, allocated while the pass holds the most.
const planChunk = 4096

// planUsers plans every user and calls take with each plan, in input order.
// planUser only reads the calculator, so large inputs are planned on every
// core, a chunk at a time.
func (c *calculator) planUsers(take func(*userPlan)) {
	users := c.users
	out := make([]userPlan, min(planChunk, users.len()))
	for start := 0; start < users.len(); start += len(out) {
		chunk := out[:min(len(out), users.len()-start)]
		parallel.Each(context.Background(), len(chunk), everyCore(len(chunk)), func(i int) {
			r, u := &chunk[i], users.at(start+i)
			r.e, r.skips = c.planUserWith(u, c.candidates[c.canon[start+i]])
			if !r.e.empty() {
				r.e.CSN = users.csn(start + i)
			}
			r.report = nil
			if c.in.Report {
				rep := c.userReport(u, &r.e, r.skips)
				r.report = &rep
			}
		})
		for i := range chunk {
			take(&chunk[i])
		}
	}
}

// everyCore shares out n pieces of work in a chunk per core, or runs them
// in turn for fewer than parallelMin.
func everyCore(n int) parallel.Options {
	cores := runtime.GOMAXPROCS(0)
	return parallel.Options{Batch: (n + cores - 1) / cores, Serial: parallelMin}
}

// calculator holds what planning one user needs from the whole input, so a
// user re-read after a conflict is planned by the same rules.
type calculator struct {
	in          Input       // but Users: users
	users       *userTable  // nil once planned (keepFor)
	storeCerts  int         // len(in.Known), which forgetKnown drops
	known       storeStatus // of the store's owned certificates
	candidates  [][]*Cert   // by canon index, newest first
	canon       []int       // users[i]'s DN is first held by users[canon[i]]
	byDN        *dnIndex    // DN → its canon index
	skips       []Change
	ownedValues int
	byAddress   *addrIndex // normalized address → the user claiming it, or manyUsers
	eligibles   []*Cert    // the store's certificates some user may get
	// onlyRevocations is set once the plan is blocked by max_deletes.
	onlyRevocations bool
}

// newCalculator is startCalculator, the users indexed, finish: a pass runs
// the first while it reads the directory and the second on each user read.
func newCalculator(in Input) *calculator {
	users := usersOf(in.Users)
	in.Users = nil
	c := startCalculator(in)
	idx := newUserIndex(users.size(), users.dn)
	for i := range users.len() {
		idx.add(i, users.at(i))
	}
	c.finish(users, idx)
	return c
}

// startCalculator applies the rules that need the CA store alone (in.Users
// is not read): which certificates are known, and which are eligible.
func startCalculator(in Input) *calculator {
	c := &calculator{in: in, storeCerts: len(in.Known), known: newStoreStatus(len(in.Known)), eligibles: make([]*Cert, 0, len(in.Known))}
	// The certificates seen, by hash: a slots index into in.Known rather
	// than a map keyed by hashes, as the store holds 100,000 of them.
	seen := slots.New(len(in.Known))
	hashAt := func(j int) uint64 { return binary.LittleEndian.Uint64(in.Known[j].Cert.Hash[:8]) }
	for i, k := range in.Known {
		if k.Cert.Owned() {
			c.known.set(k.Cert, k.Status)
		}
		h := k.Cert.Hash
		pos, free := seen.Find(hashAt(i), func(j int) bool { return in.Known[j].Cert.Hash == h })
		if pos >= 0 {
			continue
		}
		seen.Put(free, i, hashAt)
		if c.eligible(k) {
			c.eligibles = append(c.eligibles, k.Cert)
		}
	}
	return c
}

// userIndex is what the rules need from all users before any is planned: who
// claims each address, how many values trusted CAs issued, and which users
// share a DN (certificates are planned by DN: such users share them).
// manyUsers in byAddress marks an address several users claim. An int rather
// than a list of users: 100,000 addresses a pass, nearly all claimed once.
const manyUsers = -1

type userIndex struct {
	byAddress   *addrIndex
	ownedValues int
	byDN        *dnIndex
	canon       []int
}

// newUserIndex is a userIndex for a table of about size; dnAt reads the DN
// of a user added (see dnIndex.add).
func newUserIndex(size tableSize, dnAt func(i int) string) *userIndex {
	return &userIndex{byAddress: newAddrIndex(size.addrs), byDN: newDNIndex(size.users, dnAt), canon: make([]int, 0, size.users)}
}

// add indexes u, the i-th user; users are added in order.
func (x *userIndex) add(i int, u User) {
	x.canon = append(x.canon, x.byDN.add(u.DN, i))
	for _, a := range u.Addresses {
		n := mailaddr.Normalize(a)
		if n != "" {
			x.byAddress.claim(n, i)
		}
	}
	for _, v := range u.Values {
		if v.Owned() {
			x.ownedValues++
		}
	}
}

// finish gives each eligible certificate its user; idx indexes users.
func (c *calculator) finish(users *userTable, idx *userIndex) {
	c.users, c.byAddress, c.ownedValues = users, idx.byAddress, idx.ownedValues
	c.byDN, c.canon = idx.byDN, idx.canon
	c.candidates = make([][]*Cert, users.len())
	// Finding each certificate's user is a map lookup per address, done on
	// every core a chunk at a time (see planChunk); the results are taken in
	// order, as matching in turn would.
	owners := make([]owner, min(planChunk, len(c.eligibles)))
	for start := 0; start < len(c.eligibles); start += len(owners) {
		chunk := c.eligibles[start:min(start+len(owners), len(c.eligibles))]
		parallel.Each(context.Background(), len(chunk), everyCore(len(chunk)), func(i int) { owners[i] = c.owner(chunk[i]) })
		for i, x := range chunk {
			if o := owners[i]; o.reason != "" {
				c.skip("", o.email, x, o.reason)
			} else {
				k := c.canon[o.user]
				c.candidates[k] = append(c.candidates[k], x)
			}
		}
	}
	for _, l := range c.candidates {
		if len(l) > 1 {
			sort.Slice(l, func(i, j int) bool { return newer(l[i], l[j]) })
		}
	}
}

// forgetKnown drops the CA store's list once what needs it alone is done
// (startCalculator, sourceStates): the directory is read and the users are
// planned without it.
func (c *calculator) forgetKnown() { c.in.Known = nil }

// keepFor trims c, once the plan is made, to what planUser needs to plan
// one of entries again (a conflict re-reads the entry): the rules' view of
// the store and of the addresses, and the candidates of the entries' DNs.
// The users read and every other user's candidates are garbage before the
// writes begin, which is when the pass holds the most.
func (c *calculator) keepFor(entries []EntryPlan) {
	var dns []string
	var candidates [][]*Cert
	byDN := newDNIndex(len(entries), func(i int) string { return dns[i] })
	for _, e := range entries {
		k, ok := c.byDN.first(e.DN)
		if _, kept := byDN.first(e.DN); kept || !ok {
			continue
		}
		byDN.add(e.DN, len(dns))
		dns = append(dns, e.DN)
		candidates = append(candidates, c.candidates[k])
	}
	c.byDN, c.candidates = byDN, candidates
	c.users, c.canon, c.eligibles, c.skips = nil, nil, nil, nil
}

// ownAddresses lists u's normalized addresses no other user claims.
func (c *calculator) ownAddresses(u User) []string {
	var out []string
	for _, a := range u.Addresses {
		n := mailaddr.Normalize(a)
		if user, ok := c.byAddress.user(n); n != "" && ok && user != manyUsers && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// eligible applies the rules a certificate of the CA store must pass before
// any user may get it. Revoked, expired and not-yet-valid certificates are
// normal states, not skips.
func (c *calculator) eligible(k Known) bool {
	x, s := k.Cert, c.standing(k.Cert)
	switch {
	case x.Broken:
		c.skip("", firstEmail(x), x, ReasonBrokenSource)
		return false
	case !s.owned:
		c.skip("", firstEmail(x), x, ReasonUntrusted)
		return false
	case !s.usable:
		c.skip("", firstEmail(x), x, ReasonUnusablePrefix+x.Unusable())
		return false
	case c.in.Policy.MaxValueBytes > 0 && x.Size() > c.in.Policy.MaxValueBytes:
		c.skip("", firstEmail(x), x, ReasonTooLarge)
		return false
	}
	return k.Status == certsource.StatusValid && s.current()
}

// owner is the user a certificate goes to, or why it goes to nobody.
type owner struct {
	user          int
	email, reason string
}

// owner finds x's user from its addresses; it only reads the calculator. An
// address two users claim, or addresses that lead to different users, give
// no user: never guess.
func (c *calculator) owner(x *Cert) owner {
	user := -1
	for e := range x.Emails() {
		claimed, ok := c.byAddress.user(mailaddr.Key(e))
		switch {
		case !ok:
			continue
		case claimed == manyUsers || (user >= 0 && claimed != user):
			return owner{email: e, reason: ReasonAmbiguous}
		}
		user = claimed
	}
	if user < 0 {
		return owner{email: firstEmail(x), reason: ReasonNoUser}
	}
	return owner{user: user}
}

func (c *calculator) skip(dn, email string, x *Cert, reason string) {
	c.skips = append(c.skips, newChange(ActionSkip, dn, email, x, reason))
}

// newer orders certificates newest first: latest notBefore, then latest
// notAfter, then by hash so the order never depends on input order.
func newer(a, b *Cert) bool {
	if a, b := a.notBefore(), b.notBefore(); a != b {
		return a > b
	}
	if a, b := a.notAfter(), b.notAfter(); a != b {
		return a > b
	}
	return string(a.Hash[:]) < string(b.Hash[:])
}

func firstEmail(x *Cert) string { return x.FirstEmail() }
