package constitution

import (
	"fmt"
	"sort"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/env"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// maxSourceLen bounds each program's size in code points; the constitution lives in every
// replica's memory and is parsed on every replica.
const maxSourceLen = 32 << 10

// Record types seen by CEL. Values are maps at run time; declaring the fields lets the
// checker refuse `action.nmae` at Compile.
const (
	proposalType = "coco.Proposal"
	actionType   = "coco.Action"
	memberType   = "coco.Member"
	nodeType     = "coco.Node"
)

var dynMap = types.NewMapType(types.StringType, types.DynType)

var recordFields = map[string]map[string]*types.Type{
	proposalType: {
		"id":       types.StringType,
		"proposer": types.StringType,
		"actions":  types.NewListType(types.NewObjectType(actionType)),
	},
	actionType: {"name": types.StringType, "args": dynMap},
	memberType: {"id": types.StringType, "status": types.StringType, "data": dynMap},
	nodeType:   {"id": types.StringType, "status": types.StringType, "measurement": types.StringType},
}

// records adds the record types to the environment's type provider. Fields have no GetFrom,
// so the interpreter reads them as map keys from the values built in value.go.
type records struct{ types.Provider }

func (r records) FindStructType(name string) (*types.Type, bool) {
	if _, ok := recordFields[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return r.Provider.FindStructType(name)
}

func (r records) FindStructFieldNames(name string) ([]string, bool) {
	fields, ok := recordFields[name]
	if !ok {
		return r.Provider.FindStructFieldNames(name)
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, true
}

func (r records) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	fields, ok := recordFields[name]
	if !ok {
		return r.Provider.FindStructFieldType(name, field)
	}
	t, ok := fields[field]
	if !ok {
		return nil, false
	}
	return &types.FieldType{Type: t}, true
}

func (r records) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := recordFields[name]; ok {
		return types.NewErr("%s values are inputs and cannot be constructed", name)
	}
	return r.Provider.NewValue(name, fields)
}

// noRecordLiterals refuses `coco.Member{...}` at Compile: records are inputs only, and the
// runtime could not build them anyway.
type noRecordLiterals struct{}

func (noRecordLiterals) Name() string { return "coco.no_record_literals" }

func (noRecordLiterals) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	for _, e := range ast.MatchDescendants(ast.NavigateAST(a), ast.KindMatcher(ast.StructKind)) {
		if _, ok := recordFields[e.AsStruct().TypeName()]; ok {
			iss.ReportErrorAtID(e.ID(), "%s values are inputs and cannot be constructed", e.AsStruct().TypeName())
		}
	}
}

// tzOverloads read the host's time-zone database, which may differ between replicas.
var tzOverloads = map[string]string{
	"getFullYear":     "timestamp_to_year_with_tz",
	"getMonth":        "timestamp_to_month_with_tz",
	"getDayOfYear":    "timestamp_to_day_of_year_with_tz",
	"getDayOfMonth":   "timestamp_to_day_of_month_with_tz",
	"getDate":         "timestamp_to_day_of_month_1_based_with_tz",
	"getDayOfWeek":    "timestamp_to_day_of_week_with_tz",
	"getHours":        "timestamp_to_hours_with_tz",
	"getMinutes":      "timestamp_to_minutes_with_tz",
	"getSeconds":      "timestamp_to_seconds_tz",
	"getMilliseconds": "timestamp_to_milliseconds_with_tz",
}

func newEnv(withAction bool) (*cel.Env, error) {
	subset := &env.LibrarySubset{}
	for fn, id := range tzOverloads {
		subset.ExcludeFunctions = append(subset.ExcludeFunctions,
			&env.Function{Name: fn, Overloads: []*env.Overload{{ID: id}}})
	}
	opts := []cel.EnvOption{
		cel.StdLib(cel.StdLibSubset(subset)),
		ext.Bindings(),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxSourceLen),
		cel.ASTValidators(noRecordLiterals{}),
		func(e *cel.Env) (*cel.Env, error) {
			return cel.CustomTypeProvider(records{e.CELTypeProvider()})(e)
		},
		cel.Variable("proposal", cel.ObjectType(proposalType)),
		cel.Variable("ballots", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("members", cel.ListType(cel.ObjectType(memberType))),
		cel.Variable("nodes", cel.ListType(cel.ObjectType(nodeType))),
		cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("active_members", cel.IntType),
		cel.Variable("accepts", cel.IntType),
		cel.Variable("rejects", cel.IntType),
		cel.Variable("trusted_nodes", cel.IntType),
	}
	if withAction {
		opts = append(opts, cel.Variable("action", cel.ObjectType(actionType)))
	}
	e, err := cel.NewCustomEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("constitution: CEL environment: %w", err)
	}
	return e, nil
}

// Environments are immutable and safe for concurrent use; build them once.
var (
	validateEnv = sync.OnceValues(func() (*cel.Env, error) { return newEnv(true) })
	resolveEnv  = sync.OnceValues(func() (*cel.Env, error) { return newEnv(false) })
)
