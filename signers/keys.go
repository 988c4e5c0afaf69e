package signers

// ResolveKey is the key a signer uses for key: its alias target from a
// section's key_aliases, or key itself.
func ResolveKey(aliases map[string]string, key string) string {
	if real, ok := aliases[key]; ok {
		return real
	}
	return key
}
