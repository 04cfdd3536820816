package train

// AUC exposes auc to the tests.
var AUC = auc
