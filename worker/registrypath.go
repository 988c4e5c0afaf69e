package worker

import "strings"

// oddPathComponent describes a component of a repository path that is
// empty, "." or "..", and is "" when there is none. go-containerregistry
// (and so cosign) accepts reg.io/team-a/../team-b/app, which passes a
// "reg.io/team-a" prefix rule while a registry or proxy that cleans the
// URL path serves team-b's repository, with the daemon's credentials.
func oddPathComponent(repo string) string {
	for _, c := range strings.Split(repo, "/") {
		switch c {
		case "":
			return "empty"
		case ".", "..":
			return "'" + c + "'"
		}
	}
	return ""
}
