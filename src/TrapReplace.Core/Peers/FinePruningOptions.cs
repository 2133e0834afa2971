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
public sealed class FinePruningOptions : ITrainingSchedule
{
    /// <summary>Fine-tuning epochs after pruning (0 = prune only).</summary>
    /// <value>100 (BackdoorBench).</value>
    public int Epochs { get; set; } = 100;

    /// <summary>Mini-batch size of fine-tuning (the final incomplete batch is kept).</summary>
    /// <value>256.</value>
    public int BatchSize { get; set; } = 256;

    /// <summary>Optimizer of fine-tuning.</summary>
    /// <value><see cref="OptimizerKind.Sgd"/>.</value>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Sgd;

    /// <summary>Initial learning rate, cosine-annealed over <see cref="Epochs"/>.</summary>
    /// <value>0.01.</value>
    public double LearningRate { get; set; } = 0.01;

    /// <summary>Weight decay.</summary>
    /// <value>5e-4.</value>
    public double WeightDecay { get; set; } = 5e-4;

    /// <summary>SGD momentum.</summary>
    /// <value>0.9.</value>
    public double Momentum { get; set; } = 0.9;

    /// <summary>The pruned model must keep at least this share of the unpruned model's validation accuracy
    /// (BackdoorBench's acc_ratio 0.1 is the tolerated relative drop, i.e. a ratio of 0.9).</summary>
    /// <value>0.9.</value>
    public double MinAccuracyRatio { get; set; } = 0.9;

    /// <summary>Channels pruned per step, as a share of the classifier's input channels (rounded up to at least one channel).</summary>
    /// <value>0.01 (BackdoorBench once_prune_ratio).</value>
    public double PruneStepRatio { get; set; } = 0.01;

    /// <summary>Upper bound on the pruned share of channels (1 = bounded only by the accuracy rule; at least one channel always stays).</summary>
    /// <value>1.</value>
    public double MaxPruneRatio { get; set; } = 1;

    /// <summary>Share of the clean holdout kept aside (stratified, seeded) to choose the pruning level; the rest
    /// ranks the channels and fine-tunes. Must be in (0, 1).</summary>
    /// <value>0.1.</value>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Random-crop padding of fine-tuning.</summary>
    /// <value>4.</value>
    public int CropPadding { get; set; } = 4;

    /// <summary>Random horizontal flips during fine-tuning.</summary>
    /// <value>true.</value>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>Seed of the generator during fine-tuning (dropout) and of building the copy.</summary>
    /// <value>0.</value>
    public int ModelSeed { get; set; }

    /// <summary>Seed of the validation split, shuffling and augmentation.</summary>
    /// <value>0.</value>
    public int DataSeed { get; set; }

    /// <summary>Device: <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    /// <value><c>cpu</c>.</value>
    public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;

    /// <summary>Feed the network channels-last batches (faster on CPU; the trainers and the replacer do the same).</summary>
    /// <value><c>true</c>.</value>
    public bool ChannelsLast { get; set; } = true;

    /// <summary>Intra-op threads to pin (0 = TorchSharp default).</summary>
    /// <value>0.</value>
    public int Threads { get; set; }

    /// <summary>The training forward passes' arithmetic (<see cref="Runtime.Precision"/>): the fine-tuning steps' forward
    /// pass under bf16 autocast, losses in float32; the pruning's activation ranking stays float32.
    /// <value>Default <see cref="Runtime.Precision.Float32"/>.</value></summary>
    public Runtime.Precision Precision { get; set; } = Runtime.Precision.Float32;

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
