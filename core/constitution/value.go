package constitution

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// maxExactInt is the largest integer a JSON number (a float64) holds exactly.
const maxExactInt = 1 << 53

// toVal converts a plain Go value (as decoded from JSON, or built by the caller) to a CEL
// value. Whole numbers become int whatever their Go type, so `args.n + 1` works on a number
// decoded from JSON; maps iterate in sorted key order so that comprehensions, their errors
// and their cost are the same on every replica.
func toVal(v any) (ref.Val, error) {
	switch x := v.(type) {
	case nil:
		return types.NullValue, nil
	case ref.Val:
		return nil, fmt.Errorf("CEL value %T is not a plain Go value", v)
	case bool:
		return types.Bool(x), nil
	case string:
		return types.String(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return types.Int(i), nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %q: %w", x, err)
		}
		return number(f), nil
	case float64:
		return number(x), nil
	case float32:
		return number(float64(x)), nil
	case []any:
		return listVal(len(x), func(i int) any { return x[i] })
	case map[string]any:
		return mapVal(x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return types.Int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d is out of range", u)
		}
		return types.Int(int64(u)), nil
	case reflect.String:
		return types.String(rv.String()), nil
	case reflect.Slice, reflect.Array:
		return listVal(rv.Len(), func(i int) any { return rv.Index(i).Interface() })
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map keys must be strings, not %s", rv.Type().Key())
		}
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[it.Key().String()] = it.Value().Interface()
		}
		return mapVal(m)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return types.NullValue, nil
		}
		return toVal(rv.Elem().Interface())
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

func number(f float64) ref.Val {
	if f == math.Trunc(f) && math.Abs(f) <= maxExactInt {
		return types.Int(int64(f))
	}
	return types.Double(f)
}

func listVal(n int, at func(int) any) (ref.Val, error) {
	elems := make([]ref.Val, n)
	for i := range n {
		e, err := toVal(at(i))
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		elems[i] = e
	}
	return types.NewRefValList(types.DefaultTypeAdapter, elems), nil
}

func mapVal(m map[string]any) (ref.Val, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	entries := make(map[ref.Val]ref.Val, len(m))
	sorted := make([]ref.Val, len(keys))
	for i, k := range keys {
		e, err := toVal(m[k])
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		sorted[i] = types.String(k)
		entries[sorted[i]] = e
	}
	return sortedMap{Mapper: types.NewRefValMap(types.DefaultTypeAdapter, entries), keys: sorted}, nil
}

// sortedMap is a CEL map whose iteration follows its sorted keys instead of Go's randomised
// map order. Lookups, size and equality are the wrapped map's.
type sortedMap struct {
	traits.Mapper
	keys []ref.Val
}

func (m sortedMap) Iterator() traits.Iterator { return &keyIterator{keys: m.keys} }

type keyIterator struct {
	keys []ref.Val
	next int
}

func (it *keyIterator) HasNext() ref.Val { return types.Bool(it.next < len(it.keys)) }

func (it *keyIterator) Next() ref.Val {
	if it.next >= len(it.keys) {
		return types.NewErr("iterator exhausted")
	}
	k := it.keys[it.next]
	it.next++
	return k
}

func (it *keyIterator) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion on iterators not supported")
}

func (it *keyIterator) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("type conversion on iterators not supported")
}

func (it *keyIterator) Equal(ref.Val) ref.Val { return types.NewErr("no such overload") }
func (it *keyIterator) Type() ref.Type        { return types.IteratorType }
func (it *keyIterator) Value() any            { return nil }
