using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace TrapReplace.Training;

/// <summary>
/// Where a training stage runs, how it is seeded and in what arithmetic: the part every training options class inherits
/// (stage 1, stage 2, fine-tuning and every peer), so code that places or seeds a run sets it once for any of them.
/// Serialized after a class's own settings (the <see cref="JsonPropertyOrderAttribute"/> values keep the JSON order of
/// the options written before these settings were shared: stage-1 cache keys and checkpoint identities compare it).
/// </summary>
public abstract class TrainingRuntime
{
    /// <summary>Seed of the stage's initial weights and in-network randomness (dropout).</summary>
    /// <value>0 unless the class says otherwise.</value>
    [JsonPropertyOrder(110)]
    public int ModelSeed { get; set; }

    /// <summary>Seed of batch order, augmentation and per-batch transforms.</summary>
    /// <value>0.</value>
    [JsonPropertyOrder(120)]
    public int DataSeed { get; set; }

    /// <summary>Where the stage runs: <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    /// <value><c>cpu</c>.</value>
    [JsonPropertyOrder(130)]
    public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;

    /// <summary>Intra-op threads to pin; 0 leaves TorchSharp's setting alone. Pin it for bit-identical runs and resumes.</summary>
    /// <value>0.</value>
    [JsonPropertyOrder(140)]
    public int Threads { get; set; }

    /// <summary>Run the network on channels-last batches (<see cref="Runtime.MemoryLayout"/>): faster on CPU, equal up to
    /// floating-point summation order. False gives the standard (N, C, H, W) layout.</summary>
    /// <value>true.</value>
    [JsonPropertyOrder(150)]
    public bool ChannelsLast { get; set; } = true;

    /// <summary>The training forward passes' arithmetic: <see cref="Runtime.Precision.BFloat16"/> runs them under
    /// libtorch's CPU bfloat16 autocast (<see cref="Runtime.MixedPrecision"/>); weights, optimizer state, BatchNorm
    /// statistics and losses stay float32. A class that runs in float32 only says so when validated.</summary>
    /// <value><see cref="Runtime.Precision.Float32"/>.</value>
    [JsonPropertyOrder(160)]
    public Runtime.Precision Precision { get; set; } = Runtime.Precision.Float32;
}

/// <summary>
/// The epoch schedule shared by the stages that train for epochs with one optimizer and the reference augmentation
/// (stage 1, stage 2, fine-tuning, fine-pruning, NAD); the learning rate follows a cosine over <see cref="Epochs"/>.
/// Each class sets its own defaults (its summary names them).
/// </summary>
public abstract class TrainingSchedule : TrainingRuntime
{
    /// <summary>Sets the defaults of a stage.</summary>
    protected TrainingSchedule(int epochs, int batchSize, OptimizerKind optimizer, double learningRate, double weightDecay)
    {
        Epochs = epochs;
        BatchSize = batchSize;
        Optimizer = optimizer;
        LearningRate = learningRate;
        WeightDecay = weightDecay;
    }

    /// <summary>Epochs of the stage.</summary>
    [JsonPropertyOrder(10)]
    public int Epochs { get; set; }

    /// <summary>Mini-batch size.</summary>
    [JsonPropertyOrder(20)]
    public int BatchSize { get; set; }

    /// <summary>Optimizer.</summary>
    [JsonPropertyOrder(30)]
    public OptimizerKind Optimizer { get; set; }

    /// <summary>Initial learning rate, cosine-annealed over <see cref="Epochs"/>.</summary>
    [JsonPropertyOrder(40)]
    public double LearningRate { get; set; }

    /// <summary>L2 weight decay.</summary>
    [JsonPropertyOrder(50)]
    public double WeightDecay { get; set; }

    /// <summary>SGD momentum (ignored by Adam).</summary>
    /// <value>0.9.</value>
    [JsonPropertyOrder(60)]
    public double Momentum { get; set; } = 0.9;

    /// <summary>Random-crop padding in pixels; 0 disables cropping.</summary>
    /// <value>4.</value>
    [JsonPropertyOrder(90)]
    public int CropPadding { get; set; } = 4;

    /// <summary>Random horizontal flips.</summary>
    /// <value>true.</value>
    [JsonPropertyOrder(100)]
    public bool HorizontalFlip { get; set; } = true;
}

/// <summary>The checks every options class shares: one message per problem, naming the option.</summary>
internal static class SettingChecks
{
    /// <summary>Adds the problems of the runtime part.</summary>
    public static void Runtime(List<string> errors, TrainingRuntime settings)
    {
        if (settings.Threads < 0) errors.Add($"Threads must be >= 0; got {settings.Threads}.");
    }

    /// <summary>Adds the problems of the schedule and runtime parts; <paramref name="minimumEpochs"/> is 0 where a stage
    /// may skip training (fine-pruning without fine-tuning).</summary>
    public static void Schedule(List<string> errors, TrainingSchedule settings, int minimumEpochs = 1)
    {
        AtLeast(errors, nameof(settings.Epochs), settings.Epochs, minimumEpochs);
        AtLeast(errors, nameof(settings.BatchSize), settings.BatchSize, 1);
        Optimizer(errors, nameof(settings.Optimizer), settings.Optimizer);
        Positive(errors, nameof(settings.LearningRate), settings.LearningRate);
        NonNegative(errors, nameof(settings.WeightDecay), settings.WeightDecay);
        Momentum(errors, nameof(settings.Momentum), settings.Momentum);
        AtLeast(errors, nameof(settings.CropPadding), settings.CropPadding, 0);
        Runtime(errors, settings);
    }

    public static void AtLeast(List<string> errors, string name, int value, int minimum)
    {
        if (value < minimum) errors.Add($"{name} must be >= {minimum}; got {value}.");
    }

    /// <summary>A positive finite number.</summary>
    public static void Positive(List<string> errors, string name, double value)
    {
        if (!(value > 0) || double.IsInfinity(value)) errors.Add($"{name} must be a positive number; got {value}.");
    }

    /// <summary>A finite number >= 0.</summary>
    public static void NonNegative(List<string> errors, string name, double value)
    {
        if (!(value >= 0) || double.IsInfinity(value)) errors.Add($"{name} must be >= 0; got {value}.");
    }

    public static void Momentum(List<string> errors, string name, double value)
    {
        if (!(value >= 0 && value < 1)) errors.Add($"{name} must be in [0, 1); got {value}.");
    }

    public static void Optimizer(List<string> errors, string name, OptimizerKind value)
    {
        if (!Enum.IsDefined(value)) errors.Add($"{name} must be Adam or Sgd; got {value}.");
    }

    /// <summary>Throws one <see cref="OptionsValidationException"/> naming every error.</summary>
    public static void ThrowIfAny(string name, Type type, IReadOnlyList<string> errors)
    {
        if (errors.Count > 0) throw new OptionsValidationException(name, type, errors);
    }
}
