package broker

import "errors"

// ErrAddressRefused means the broker would not attach a link to an
// address (a malformed or forbidden address, a value the broker cannot
// parse). Trying again does not help: the operation fails at once, and
// the connection shared by other operations stays up.
var ErrAddressRefused = errors.New("address refused by the messaging broker")
