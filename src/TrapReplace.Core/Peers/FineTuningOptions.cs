using Microsoft.Extensions.Options;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Peers;

/// <summary>
/// Fine-tuning settings: the whole model (stem and head, nothing frozen) trained further on the clean holdout, the
/// simplest post-training defense and the baseline every paper compares against. Defaults follow BackdoorBench's
/// <c>ft</c> (SGD lr 0.01, momentum 0.9, weight decay 5e-4, cosine, batch 256, 100 epochs).
/// </summary>
public sealed class FineTuningOptions : TrainingSchedule
{
    /// <summary>Options with this stage's defaults.</summary>
    public FineTuningOptions()
        : base(epochs: 100, batchSize: 256, optimizer: OptimizerKind.Sgd, learningRate: 0.01, weightDecay: 5e-4)
    {
    }

    /// <summary>Every problem with the current values; empty when valid.</summary>
    public IReadOnlyList<string> Validate() => Trainer().Validate();

    /// <summary>Throws one <see cref="OptionsValidationException"/> naming every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(FineTuningOptions), typeof(FineTuningOptions), Validate());

    /// <summary>A copy.</summary>
    public FineTuningOptions Clone() => (FineTuningOptions)MemberwiseClone();

    // Fine-tuning is the stage-1 loop without the reconstruction loss, started from the given model.
    internal TrapTrainerOptions Trainer() => new()
    {
        Epochs = Epochs,
        BatchSize = BatchSize,
        Optimizer = Optimizer,
        LearningRate = LearningRate,
        WeightDecay = WeightDecay,
        Momentum = Momentum,
        ReconstructionWeight = 0,
        TotalVariationWeight = 0,
        CropPadding = CropPadding,
        HorizontalFlip = HorizontalFlip,
        ModelSeed = ModelSeed,
        DataSeed = DataSeed,
        Device = Device,
        Threads = Threads,
        ChannelsLast = ChannelsLast,
        Precision = Precision,
    };
}
