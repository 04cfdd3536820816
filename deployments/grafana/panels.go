// Package grafana builds lambda's Grafana dashboards with grafana-foundation-sdk. The JSON
// under dashboards/ is what Grafana loads (provisioning/dashboards/lambda.yaml); it is
// generated from this package by `go test ./deployments/grafana -update`, and the test
// fails while the files and the code disagree.
package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The datasources of provisioning/datasources/lambda.yaml, by uid and plugin type.
var (
	Prometheus = datasource("prometheus", "prometheus")
	Postgres   = datasource("postgres", "grafana-postgresql-datasource")
	ClickHouse = datasource("clickhouse", "grafana-clickhouse-datasource")
)

func datasource(uid, typ string) common.DataSourceRef {
	return common.DataSourceRef{Uid: &uid, Type: &typ}
}

// variable is one template variable of a dashboard.
type variable = cog.Builder[dashboard.VariableModel]

// kind is a panel's visualisation.
type kind int

const (
	timeSeries kind = iota
	singleStat
	tableView
)

// panel describes one panel: what it shows (its queries on one datasource) and how.
type panel struct {
	kind    kind
	title   string
	desc    string // what it shows and what to do when it is red
	unit    string
	width   uint32 // of 24 columns
	ds      common.DataSourceRef
	queries []target
	red     *float64 // the value from which the panel turns red, if any
}

// target is one query of a panel: PromQL with a legend, or SQL.
type target struct{ expr, legend, sql string }

// promQL is a Prometheus range query with a legend.
func promQL(expr, legend string) target { return target{expr: expr, legend: legend} }

func graph(title, desc, unit string, width uint32, queries ...target) panel {
	return panel{kind: timeSeries, title: title, desc: desc, unit: unit, width: width, ds: Prometheus, queries: queries}
}

func single(title, desc, unit string, width uint32, queries ...target) panel {
	return panel{kind: singleStat, title: title, desc: desc, unit: unit, width: width, ds: Prometheus, queries: queries}
}

// sqlTable is a table of the rows of query on ds (PostgreSQL or ClickHouse).
func sqlTable(title, desc string, width uint32, ds common.DataSourceRef, query string) panel {
	return panel{kind: tableView, title: title, desc: desc, width: width, ds: ds, queries: []target{{sql: query}}}
}

// sqlGraph is a time series of query on ds, whose first column is the time.
func sqlGraph(title, desc, unit string, width uint32, ds common.DataSourceRef, query string) panel {
	return panel{kind: timeSeries, title: title, desc: desc, unit: unit, width: width, ds: ds, queries: []target{{sql: query}}}
}

// redFrom turns the panel red from v on.
func (p panel) redFrom(v float64) panel {
	p.red = &v
	return p
}

// dataquery builds the i-th query of a panel on ds; queries are named A, B, ...
func (q target) dataquery(ds common.DataSourceRef, i int) cog.Builder[variants.Dataquery] {
	ref := string(rune('A' + i))
	if q.sql == "" {
		return prometheus.NewDataqueryBuilder().Expr(q.expr).LegendFormat(q.legend).Datasource(ds).RefId(ref)
	}
	raw := variants.UnknownDataquery{"refId": ref, "datasource": ds, "rawSql": q.sql, "rawQuery": true, "editorMode": "code", "format": "table"}
	if *ds.Type == *ClickHouse.Type {
		// The ClickHouse plugin's format 1 is a table.
		raw = variants.UnknownDataquery{"refId": ref, "datasource": ds, "rawSql": q.sql, "format": 1, "editorType": "sql", "queryType": "table"}
	}
	return variants.NewUnknownDataqueryBuilderFromObject(raw)
}

// panelBuilder is what the panel builders of the foundation SDK have in common.
type panelBuilder[B any] interface {
	cog.Builder[dashboard.Panel]
	Id(uint32) B
	Title(string) B
	Description(string) B
	Datasource(common.DataSourceRef) B
	WithTarget(cog.Builder[variants.Dataquery]) B
	Unit(string) B
	Height(uint32) B
	Span(uint32) B
	Thresholds(cog.Builder[dashboard.ThresholdsConfig]) B
}

func configure[B panelBuilder[B]](b B, id uint32, p panel) cog.Builder[dashboard.Panel] {
	b.Id(id).Title(p.title).Description(p.desc).Datasource(p.ds).Span(p.width).Height(8)
	if p.unit != "" {
		b.Unit(p.unit)
	}
	for i, q := range p.queries {
		b.WithTarget(q.dataquery(p.ds, i))
	}
	steps := []dashboard.Threshold{{Color: "green"}}
	if p.red != nil {
		steps = append(steps, dashboard.Threshold{Value: p.red, Color: "red"})
	}
	b.Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps))
	return b
}

func (p panel) builder(id uint32) cog.Builder[dashboard.Panel] {
	switch p.kind {
	case singleStat:
		return configure(stat.NewPanelBuilder().ColorMode(common.BigValueColorModeBackground), id, p)
	case tableView:
		return configure(table.NewPanelBuilder().Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{})), id, p)
	default:
		return configure(timeseries.NewPanelBuilder().FillOpacity(10), id, p)
	}
}

// board is one dashboard: its panels in reading order and the template variables they use.
type board struct {
	file, uid, title, desc string
	vars                   []variable
	panels                 []panel
}

// instanceVar filters Prometheus series by the process that exported them.
func instanceVar() variable {
	return promVar("instance", "Instance", `label_values(up{job=~"lambda.*"}, instance)`)
}

// partitionVar filters per-partition series by Kafka partition.
func partitionVar() variable {
	return promVar("partition", "Partition", `label_values(lambda_speed_consumer_lag_messages, partition)`)
}

func promVar(name, label, q string) variable {
	return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(Prometheus).
		Query(dashboard.StringOrMap{String: &q}).Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue(".*").
		Current(dashboard.VariableOption{Selected: cog.ToPtr(true), Text: dashboard.StringOrArrayOfString{String: cog.ToPtr("All")}, Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")}})
}

// build returns the dashboard; panels are numbered from 1 in reading order.
func (b board) build() (dashboard.Dashboard, error) {
	d := dashboard.NewDashboardBuilder(b.title).Uid(b.uid).Description(b.desc).
		Tags([]string{"lambda"}).Time("now-1h", "now").Refresh("30s").Timezone("browser").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).Editable()
	for _, v := range b.vars {
		d.WithVariable(v)
	}
	for i, p := range b.panels {
		d.WithPanel(p.builder(uint32(i + 1)))
	}
	return d.Build()
}
