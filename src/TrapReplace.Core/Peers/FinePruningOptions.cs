using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using TrapReplace.Training;

namespace TrapReplace.Peers;

/// <summary>
/// Fine-Pruning settings (Liu, Dolan-Gavitt and Garg, "Fine-Pruning: Defending Against Backdooring
/// Attacks on Deep Neural Networks", RAID 2018). Defaults follow BackdoorBench's <c>fp</c> config for
/// CIFAR-10 (SGD lr 0.01, momentum 0.9, weight decay 5e-4, cosine, batch 256, 100 epochs on the
/// clean subset, acc_ratio 0.1, once_prune_ratio 0.01), except that the pruning level is chosen on a
/// validation split of the clean holdout, never on the test set.
/// </summary>
public sealed class FinePruningOptions : TrainingSchedule
{
    /// <summary>Options with this stage's defaults.</summary>
    public FinePruningOptions()
        : base(epochs: 100, batchSize: 256, optimizer: OptimizerKind.Sgd, learningRate: 0.01, weightDecay: 5e-4)
    {
    }

    /// <summary>The pruned model must keep at least this share of the unpruned model's validation accuracy
    /// (BackdoorBench's acc_ratio 0.1 is the tolerated relative drop, i.e. a ratio of 0.9).</summary>
    /// <value>0.9.</value>
    [JsonPropertyOrder(61)]
    public double MinAccuracyRatio { get; set; } = 0.9;

    /// <summary>Channels pruned per step, as a share of the classifier's input channels (rounded up to at least one channel).</summary>
    /// <value>0.01 (BackdoorBench once_prune_ratio).</value>
    [JsonPropertyOrder(62)]
    public double PruneStepRatio { get; set; } = 0.01;

    /// <summary>Upper bound on the pruned share of channels (1 = bounded only by the accuracy rule; at least one channel always stays).</summary>
    /// <value>1.</value>
    [JsonPropertyOrder(63)]
    public double MaxPruneRatio { get; set; } = 1;

    /// <summary>Share of the clean holdout kept aside (stratified, seeded) to choose the pruning level; the rest
    /// ranks the channels and fine-tunes. Must be in (0, 1).</summary>
    /// <value>0.1.</value>
    [JsonPropertyOrder(64)]
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Every problem with the current values; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        SettingChecks.Schedule(errors, this, minimumEpochs: 0);
        if (!(MinAccuracyRatio >= 0 && MinAccuracyRatio <= 1)) errors.Add($"MinAccuracyRatio must be in [0, 1]; got {MinAccuracyRatio}.");
        if (!(PruneStepRatio > 0 && PruneStepRatio <= 1)) errors.Add($"PruneStepRatio must be in (0, 1]; got {PruneStepRatio}.");
        if (!(MaxPruneRatio >= 0 && MaxPruneRatio <= 1)) errors.Add($"MaxPruneRatio must be in [0, 1]; got {MaxPruneRatio}.");
        if (!(ValidationFraction > 0 && ValidationFraction < 1)) errors.Add($"ValidationFraction must be in (0, 1); got {ValidationFraction}.");
        return errors;
    }

    /// <summary>Throws one <see cref="OptionsValidationException"/> naming every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(FinePruningOptions), typeof(FinePruningOptions), Validate());

    /// <summary>A copy.</summary>
    public FinePruningOptions Clone() => (FinePruningOptions)MemberwiseClone();
}
