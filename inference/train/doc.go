// Package train fits the platform's models in pure Go: logistic regression and a ReLU
// perceptron of one or more hidden layers (SmallHidden, the default, and LargeHidden are
// the demo's sizes), with mini-batch Adam on the log-loss, deterministic given a seed.
//
// Training data comes from the event log the layers fold (Collect; Demo for the demo
// generator): events are folded per entity with the shared feature spec in arrival order,
// and at each label event the entity's feature vector as of the label's time, before the
// label itself is folded, is paired with the label's 0/1 value. That is exactly the row
// the serving layer would have scored at that moment. Split keeps the newest labels for
// the holdout, so the holdout metrics are those of a model scoring the future.
//
// Inputs are standardised for training (mean 0, variance 1 on the training rows) and the
// standardisation is folded into the first layer's weights and biases on export, so the
// exported model (onnxmodel.LogisticRegression or onnxmodel.DeepMLP) takes raw feature vectors.
package train
