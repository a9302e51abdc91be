// Package userdb resolves a container USER ("name", "uid", "name:group",
// "uid:gid") against a root filesystem's /etc/passwd and /etc/group, the
// way docker (runc) does, at build time: the guest then needs no user
// database and no NSS to switch to the user, and a user that does not
// exist is a build error rather than a failure at every boot.
package userdb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NobodyID is the uid and gid of "nobody" when the root has no passwd
// entry for it: the kernel's overflow id, which every distribution uses.
const NobodyID = 65534

// User is a resolved user.
type User struct {
	UID, GID uint32
	// Groups are the supplementary groups: those listing the user by
	// name in /etc/group, when the group was not given explicitly.
	Groups []uint32
	// Home is the passwd home directory ("/" when unknown), for HOME.
	Home string
}

// Resolve resolves spec against the contents of /etc/passwd and
// /etc/group (either may be nil when the root has none).
//
// As in docker: a name must exist in passwd; a numeric uid need not (its
// gid is then 0 and home "/"); a group given after ':' replaces the
// passwd gid and no supplementary groups are added; a numeric gid need
// not exist in group. "nobody" and "nogroup" resolve to NobodyID when the
// files do not list them.
func Resolve(spec string, passwd, group []byte) (*User, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" || (hasGroup && groupPart == "") {
		return nil, fmt.Errorf("user %q: want NAME, UID, NAME:GROUP or UID:GID", spec)
	}
	users := parse(passwd, 4) // name:x:uid:gid[:gecos:home:shell]
	u := &User{Home: "/"}
	var name string
	if e, ok := find(users, userPart); ok {
		id, err := parseID(e[2])
		if err != nil {
			return nil, fmt.Errorf("user %q: /etc/passwd entry for %s has a bad uid %q", spec, e[0], e[2])
		}
		gid, err := parseID(e[3])
		if err != nil {
			return nil, fmt.Errorf("user %q: /etc/passwd entry for %s has a bad gid %q", spec, e[0], e[3])
		}
		name, u.UID, u.GID = e[0], id, gid
		if len(e) > 5 && e[5] != "" {
			u.Home = e[5]
		}
	} else if id, err := parseID(userPart); err == nil {
		u.UID = id
	} else if userPart == "nobody" {
		name, u.UID, u.GID = "nobody", NobodyID, NobodyID
	} else if passwd == nil {
		return nil, fmt.Errorf("user %q: the root filesystem has no /etc/passwd; give a numeric UID[:GID] or add an /etc/passwd", spec)
	} else {
		return nil, fmt.Errorf("user %q: no such user in the image's /etc/passwd; add the user, or give a numeric UID[:GID]", userPart)
	}

	groups := parse(group, 3) // name:x:gid[:members]
	if hasGroup {
		if e, ok := find(groups, groupPart); ok {
			gid, err := parseID(e[2])
			if err != nil {
				return nil, fmt.Errorf("user %q: /etc/group entry for %s has a bad gid %q", spec, e[0], e[2])
			}
			u.GID = gid
		} else if gid, err := parseID(groupPart); err == nil {
			u.GID = gid
		} else if groupPart == "nogroup" || groupPart == "nobody" {
			u.GID = NobodyID
		} else {
			return nil, fmt.Errorf("user %q: no such group %q in the image's /etc/group; add it, or give a numeric GID", spec, groupPart)
		}
		return u, nil
	}
	if name == "" {
		return u, nil
	}
	for _, e := range groups {
		if len(e) < 4 {
			continue
		}
		for _, m := range strings.Split(e[3], ",") {
			if m != name {
				continue
			}
			if gid, err := parseID(e[2]); err == nil && gid != u.GID && !contains(u.Groups, gid) {
				u.Groups = append(u.Groups, gid)
			}
		}
	}
	return u, nil
}

var errBadID = errors.New("not a 32-bit id")

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errBadID
	}
	return uint32(n), nil
}

func contains(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// parse splits a passwd or group file into colon-separated fields,
// skipping blank lines, comments and lines with fewer than min fields.
func parse(b []byte, min int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Split(line, ":"); len(f) >= min {
			out = append(out, f)
		}
	}
	return out
}

// find returns the entry named key: by name first, then (for a numeric
// key) by id, as runc does.
func find(entries [][]string, key string) ([]string, bool) {
	for _, e := range entries {
		if e[0] == key {
			return e, true
		}
	}
	if _, err := parseID(key); err == nil {
		for _, e := range entries {
			if e[2] == key {
				return e, true
			}
		}
	}
	return nil, false
}
