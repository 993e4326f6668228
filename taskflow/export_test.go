package taskflow

// WeighedOrder exposes weighedOrder to the tests of package taskflow_test.
var WeighedOrder = weighedOrder
