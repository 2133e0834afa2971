using Microsoft.Extensions.Options;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Peers;

/// <summary>
/// Fine-tuning settings: the whole model (stem and head, nothing frozen) trained further on the clean holdout, the
/// simplest post-training defense and the baseline every paper compares against. Defaults follow BackdoorBench's
/// <c>ft</c> (SGD lr 0.01, momentum 0.9, weight decay 5e-4, cosine, batch 256, 100 epochs).
/// </summary>
public sealed class FineTuningOptions : ITrainingSchedule
{
    /// <summary>Epochs over the holdout.</summary>
    /// <value>100 (BackdoorBench).</value>
    public int Epochs { get; set; } = 100;

    /// <summary>Mini-batch size (the final incomplete batch is dropped).</summary>
    /// <value>256.</value>
    public int BatchSize { get; set; } = 256;

    /// <summary>Optimizer.</summary>
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

    /// <summary>Random-crop padding.</summary>
    /// <value>4.</value>
    public int CropPadding { get; set; } = 4;

    /// <summary>Random horizontal flips.</summary>
    /// <value>true.</value>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>Seed of the per-step draws (dropout).</summary>
    public int ModelSeed { get; set; }

    /// <summary>Seed of the data order and augmentation.</summary>
    public int DataSeed { get; set; }

    /// <summary>Device: <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    /// <value>cpu.</value>
    public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;

    /// <summary>Intra-op threads (0 = TorchSharp's default).</summary>
    public int Threads { get; set; }

    /// <summary>Batches run channels-last.</summary>
    /// <value>true.</value>
    public bool ChannelsLast { get; set; } = true;

    /// <summary>Float32, or bf16 mixed precision where the CPU has it.</summary>
    /// <value><see cref="Runtime.Precision.Float32"/>.</value>
    public Runtime.Precision Precision { get; set; } = Runtime.Precision.Float32;

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
