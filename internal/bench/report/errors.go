package report

import "errors"

// errNoData means a plot had nothing to draw; the page shows a note instead.
var errNoData = errors.New("report: no data to plot")
