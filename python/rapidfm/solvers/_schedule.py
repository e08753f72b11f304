"""The learning-rate schedule the step-size solvers share (SGD, AdaGrad, FTRL, SGDA)."""


class LearningRateSchedule:
    """Mixin of a Solver whose estimator sets learning_rate, schedule and power_t."""

    default_learning_rate = 0.01  # learning_rate=None

    @property
    def eta0(self):
        """The learning rate set, or this solver's default for learning_rate=None."""
        rate = self.estimator.learning_rate
        if rate is not None:
            return float(rate)
        # a model kind may have its own defaults (the field-aware estimators: libffm's)
        defaults = getattr(self.estimator, "_default_learning_rates", None) or {}
        return float(defaults.get(self.name, self.default_learning_rate))

    def learning_rate_at(self, epoch):
        """eta0 for 'constant'; eta0 / (1 + epoch)^power_t for 'invscaling' (epoch from 0)."""
        est = self.estimator
        if est.schedule == "invscaling":
            return self.eta0 / (1.0 + epoch) ** est.power_t
        return self.eta0
