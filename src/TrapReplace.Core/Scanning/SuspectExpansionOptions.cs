using TrapReplace.Training;

namespace TrapReplace.Scanning;

/// <summary>Options of <see cref="SuspectExpander"/>.</summary>
public sealed class SuspectExpansionOptions
{
    /// <summary>Folds over the holdout; each holdout image is scored by the probe that did not train on it. Default 5.</summary>
    public int Folds { get; set; } = 5;

    /// <summary>Quantile of the holdout's out-of-fold target-class scores used as the threshold (its false-positive rate
    /// on clean target-class images is about 1 - this). Default 0.99, as the scan's own threshold.</summary>
    public double Quantile { get; set; } = 0.99;

    /// <summary>Untrusted samples labelled with other classes drawn as clean negatives (seeded). Default 5,000.</summary>
    public int MaximumNegatives { get; set; } = 5_000;

    /// <summary>The stem's output is average-pooled to the finest square grid (a power of two) whose feature length stays
    /// within this. Default 2,048 (WRN-16-1: 64 channels on a 4x4 grid = 1,024).</summary>
    public int MaximumFeatures { get; set; } = 2_048;

    /// <summary>The scan must hold at least this many suspects for the probe to learn from; fewer leave the scan unchanged. Default 20.</summary>
    public int MinimumSeeds { get; set; } = 20;

    /// <summary>Full-batch Adam steps of the probe. Default 300.</summary>
    public int Steps { get; set; } = 300;

    /// <summary>Adam learning rate of the probe. Default 0.05.</summary>
    public double LearningRate { get; set; } = 0.05;

    /// <summary>L2 penalty on the probe's weights. Default 1e-3.</summary>
    public double WeightDecay { get; set; } = 1e-3;

    /// <summary>Seed of the negatives' draw and the folds. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>Images per stem pass. Default 500.</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>Intra-op threads; 0 leaves the process setting. Default 0.</summary>
    public int Threads { get; set; }

    /// <summary>cpu, cuda or cuda:N; the network must be there. Default cpu.</summary>
    public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;

    /// <summary>Run the stem on channels-last batches. Default true.</summary>
    public bool ChannelsLast { get; set; } = true;

    /// <summary>Also judge the scan's own suspects: each is scored by a probe that did not train on it (the suspects
    /// are split into the same number of folds), and one scoring no higher than the threshold, which clean target-class
    /// images reach one time in a hundred, is dropped: the heads flagged it, but the stem sees no trigger in it.
    /// <value>Default true.</value></summary>
    public bool PruneSeeds { get; set; } = true;

    /// <summary>With <see cref="PruneSeeds"/>, the share of the scan's suspects the probe must confirm for the scan's
    /// target to stand; below it the suspects are withdrawn (<see cref="SuspectExpansion.Refuted"/>). Measured at the full
    /// profile on CIFAR-10: real attacks 85-99 % confirmed, WaNet's stored set (no poison) 2 %. 0 never refutes.
    /// <value>Default 0.5.</value></summary>
    public double MinimumConfirmedShare { get; set; } = 0.5;

    /// <summary>Every problem with the options, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Folds < 2) errors.Add($"Folds must be >= 2; got {Folds}.");
        if (!(Quantile > 0 && Quantile < 1)) errors.Add($"Quantile must be in (0, 1); got {Quantile}.");
        if (MaximumNegatives < 1) errors.Add($"MaximumNegatives must be >= 1; got {MaximumNegatives}.");
        if (MaximumFeatures < 1) errors.Add($"MaximumFeatures must be >= 1; got {MaximumFeatures}.");
        if (MinimumSeeds < 1) errors.Add($"MinimumSeeds must be >= 1; got {MinimumSeeds}.");
        if (!(MinimumConfirmedShare >= 0 && MinimumConfirmedShare <= 1)) errors.Add($"MinimumConfirmedShare must be in [0, 1]; got {MinimumConfirmedShare}.");
        if (Steps < 1) errors.Add($"Steps must be >= 1; got {Steps}.");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) errors.Add($"LearningRate must be positive and finite; got {LearningRate}.");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) errors.Add($"WeightDecay must be >= 0 and finite; got {WeightDecay}.");
        if (BatchSize < 1) errors.Add($"BatchSize must be >= 1; got {BatchSize}.");
        if (Threads < 0) errors.Add($"Threads must be >= 0; got {Threads}.");
        return errors;
    }

    /// <summary>Throws when <see cref="Validate"/> finds problems.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Lists every problem.</exception>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(SuspectExpansionOptions), typeof(SuspectExpansionOptions), Validate());

    /// <summary>A copy.</summary>
    public SuspectExpansionOptions Clone() => (SuspectExpansionOptions)MemberwiseClone();
}
