package compat

import (
	"fmt"
	"net/netip"
	"reflect"
)

// The options below are set by name, through reflection, because the
// library does not have them yet (issue 10 asks for them): a case that
// needs one fails with a message naming the missing option, and runs as
// written once the option exists. When the options land, these helpers
// can become plain assignments.

// setOption sets the field name of the struct that opts points to, or of
// its Conn field (ws.HubOptions keeps the connection options there), to
// v, converting v to the field's type where it knows how.
func setOption(opts any, name string, v any) error {
	s := reflect.ValueOf(opts).Elem()
	f := s.FieldByName(name)
	if !f.IsValid() {
		if c := s.FieldByName("Conn"); c.IsValid() && c.Kind() == reflect.Struct {
			f = c.FieldByName(name)
		}
	}
	if !f.IsValid() {
		return fmt.Errorf("%s has no option %s", s.Type(), name)
	}
	val := reflect.ValueOf(v)
	if val.Type().AssignableTo(f.Type()) {
		f.Set(val)
		return nil
	}
	// A list of addresses given as CIDR strings, for a field that wants
	// prefixes or addresses.
	if cidrs, ok := v.([]string); ok {
		switch f.Type() {
		case reflect.TypeFor[[]netip.Prefix]():
			var ps []netip.Prefix
			for _, c := range cidrs {
				ps = append(ps, netip.MustParsePrefix(c))
			}
			f.Set(reflect.ValueOf(ps))
			return nil
		case reflect.TypeFor[[]netip.Addr]():
			var as []netip.Addr
			for _, c := range cidrs {
				as = append(as, netip.MustParsePrefix(c).Addr())
			}
			f.Set(reflect.ValueOf(as))
			return nil
		}
	}
	return fmt.Errorf("%s.%s is a %s, which this suite does not know how to set to %v", s.Type(), name, f.Type(), v)
}

// trustedProxiesOption is the name the suite expects for the option that
// trusts X-Forwarded-Host from given proxies.
const trustedProxiesOption = "TrustedProxies"

// trustLoopback trusts the proxies on 127.0.0.1 (the suite's proxies).
func trustLoopback(opts any) error {
	return setOption(opts, trustedProxiesOption, []string{"127.0.0.1/32"})
}
