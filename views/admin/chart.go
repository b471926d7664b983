package admin

import (
	"fmt"
	"strconv"

	"github.com/latchkey/latchkey/models"
)

// chartData is the geometry of the overview's bar chart, computed here so
// that the template only places elements. Two bars a day, side by side.
type chartData struct {
	ViewBox               string
	Desc                  string
	AxisX1, AxisX2, AxisY string
	Grid                  []chartGrid
	Bars                  []chartBar
	XLabels               []chartLabel
	Days                  []models.DayCount
}

type chartGrid struct{ X1, X2, Y, LabelX, LabelY, Label string }

type chartBar struct{ Class, X, Y, W, H, Title string }

type chartLabel struct{ X, Y, Label string }

const (
	chartW, chartH       = 640.0, 220.0
	chartLeft, chartTop  = 44.0, 10.0
	chartRight, chartBot = 8.0, 24.0
)

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceMax rounds up to 1, 2 or 5 times a power of ten, so grid labels are
// round numbers.
func niceMax(v int64) int64 {
	if v <= 0 {
		return 1
	}
	p := int64(1)
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func newChart(days []models.DayCount) chartData {
	c := chartData{ViewBox: fmt.Sprintf("0 0 %d %d", int(chartW), int(chartH)), Days: days}
	var top, issued, revoked int64
	for _, d := range days {
		top = max(top, d.Issued, d.Revoked)
		issued += d.Issued
		revoked += d.Revoked
	}
	c.Desc = fmt.Sprintf("%d tokens issued and %d revoked over %d days.", issued, revoked, len(days))
	top = niceMax(top)
	plotW, plotH := chartW-chartLeft-chartRight, chartH-chartTop-chartBot
	base := chartTop + plotH
	c.AxisX1, c.AxisX2, c.AxisY = f1(chartLeft), f1(chartW-chartRight), f1(base)
	for i := 1; i <= 4; i++ {
		v := top * int64(i) / 4
		y := base - plotH*float64(v)/float64(top)
		c.Grid = append(c.Grid, chartGrid{X1: f1(chartLeft), X2: f1(chartW - chartRight), Y: f1(y),
			LabelX: f1(chartLeft - 4), LabelY: f1(y + 3), Label: strconv.FormatInt(v, 10)})
	}
	if len(days) == 0 {
		return c
	}
	slot := plotW / float64(len(days))
	bw := slot * 0.38
	for i, d := range days {
		x := chartLeft + slot*float64(i) + slot*0.1
		day := d.Day.Format("2006-01-02")
		for j, v := range []int64{d.Issued, d.Revoked} {
			h := plotH * float64(v) / float64(top)
			if v > 0 && h < 1 {
				h = 1
			}
			class, what := "bar-issued", "issued"
			if j == 1 {
				class, what = "bar-revoked", "revoked"
			}
			c.Bars = append(c.Bars, chartBar{Class: class, X: f1(x + bw*float64(j)), Y: f1(base - h), W: f1(bw), H: f1(h),
				Title: fmt.Sprintf("%s: %d %s", day, v, what)})
		}
		if i%5 == 0 || i == len(days)-1 {
			c.XLabels = append(c.XLabels, chartLabel{X: f1(x + bw), Y: f1(chartH - 8), Label: dateOnly(d.Day)})
		}
	}
	return c
}
