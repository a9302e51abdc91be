package userdb

import (
	"reflect"
	"strings"
	"testing"
)

const passwd = `root:x:0:0:root:/root:/bin/sh
# a comment

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken:x:notanumber:0::/:/bin/sh
short:x
`

const group = `root:x:0:
staff:x:50:app,daemon
audio:x:29:app
app:x:1000:
nogroup:x:65534:
`

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want User
	}{
		{"root", User{0, 0, nil, "/root"}},
		{"app", User{1000, 1000, []uint32{50, 29}, "/home/app"}},
		{"nobody", User{65534, 65534, nil, "/nonexistent"}},
		{"1000", User{1000, 1000, []uint32{50, 29}, "/home/app"}}, // known uid: its passwd entry
		{"4242", User{4242, 0, nil, "/"}},                         // unknown uid: gid 0, as docker
		{"4242:4343", User{4242, 4343, nil, "/"}},
		{"app:staff", User{1000, 50, nil, "/home/app"}}, // explicit group: no supplementary groups
		{"app:7", User{1000, 7, nil, "/home/app"}},
		{"daemon:nogroup", User{1, 65534, nil, "/usr/sbin"}},
	} {
		got, err := Resolve(tc.spec, []byte(passwd), []byte(group))
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("Resolve(%q) = %+v, want %+v", tc.spec, *got, tc.want)
		}
	}
}

func TestResolveWithoutFiles(t *testing.T) {
	got, err := Resolve("nobody", nil, nil)
	if err != nil || !reflect.DeepEqual(*got, User{NobodyID, NobodyID, nil, "/"}) {
		t.Errorf("nobody without passwd = %+v, %v", got, err)
	}
	got, err = Resolve("123:456", nil, nil)
	if err != nil || !reflect.DeepEqual(*got, User{123, 456, nil, "/"}) {
		t.Errorf("123:456 without passwd = %+v, %v", got, err)
	}
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct {
		spec          string
		passwd, group string
		want          string
	}{
		{"ghost", passwd, group, `"ghost": no such user in the image's /etc/passwd`},
		{"ghost", "", "", "has no /etc/passwd"},
		{"app:ghosts", passwd, group, `no such group "ghosts"`},
		{"broken", passwd, group, `bad uid "notanumber"`},
		{"", passwd, group, "want NAME, UID"},
		{"app:", passwd, group, "want NAME, UID"},
		{"-1", passwd, group, "no such user"},
		{"99999999999", passwd, group, "no such user"},
	} {
		var pw, gr []byte
		if tc.passwd != "" {
			pw, gr = []byte(tc.passwd), []byte(tc.group)
		}
		_, err := Resolve(tc.spec, pw, gr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%q) err = %v, want %q", tc.spec, err, tc.want)
		}
	}
}
