using System.Text.Json.Serialization;
using TrapReplace.Defense;

namespace TrapReplace.Peers;

/// <summary>What <see cref="FineTuning"/> returns: the fine-tuned copy (fine-tuning decides nothing else).</summary>
public sealed record FineTuningResult : BackdoorDefenseResult;

/// <summary>What <see cref="FinePruning"/> decided: how many channels it pruned and the validation accuracy at each step.</summary>
public sealed record FinePruningResult : BackdoorDefenseResult
{
    /// <summary>Input channels of the classifier.</summary>
    public required int Channels { get; init; }

    /// <summary>Channels pruned (their classifier input columns are zero in the returned network).</summary>
    public required int PrunedChannels { get; init; }

    /// <summary>Pruned share of the channels.</summary>
    public double PruneRatio => Channels == 0 ? 0 : (double)PrunedChannels / Channels;

    /// <summary>Validation accuracy of the input model.</summary>
    public required double ValidationAccuracyUnpruned { get; init; }

    /// <summary>Validation accuracy right after pruning, before fine-tuning.</summary>
    public required double ValidationAccuracyPruned { get; init; }

    /// <summary>Validation accuracy of the returned network.</summary>
    public required double ValidationAccuracyFinal { get; init; }
}

/// <summary>What <see cref="NeuralAttentionDistillation"/> measured on the validation split (absent without one).</summary>
public sealed record NeuralAttentionDistillationResult : BackdoorDefenseResult
{
    /// <summary>Epochs of teacher fine-tuning (the history's first records).</summary>
    public required int TeacherEpochs { get; init; }

    /// <summary>Teacher validation accuracy.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? TeacherValidationAccuracy { get; init; }

    /// <summary>Validation accuracy of the input model.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? ValidationAccuracyInitial { get; init; }

    /// <summary>Validation accuracy of the returned student.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? ValidationAccuracyFinal { get; init; }

    /// <summary>Unweighted attention loss (stem + head) between the input model and the teacher.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? AttentionLossBefore { get; init; }

    /// <summary>The same between the returned student and the teacher.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? AttentionLossAfter { get; init; }
}

/// <summary>What <see cref="AdversarialNeuronPruning"/> decided: the mask threshold and the neurons it pruned.</summary>
public sealed record AdversarialNeuronPruningResult : BackdoorDefenseResult
{
    /// <summary>BatchNorm channels (neurons) that carry a mask.</summary>
    public required int Neurons { get; init; }

    /// <summary>Pruned neurons.</summary>
    public required int PrunedNeurons { get; init; }

    /// <summary>The mask threshold used (neurons strictly below it are pruned).</summary>
    public required double Threshold { get; init; }

    /// <summary>Neurons whose mask ended below 0.2 (the paper's fixed threshold), for comparison.</summary>
    [JsonPropertyName("neurons_below_0.2")]
    public required int NeuronsBelowPaperThreshold { get; init; }

    /// <summary>Validation accuracy of the input model.</summary>
    public required double ValidationAccuracyUnpruned { get; init; }

    /// <summary>Validation accuracy of the returned, pruned network.</summary>
    public required double ValidationAccuracyPruned { get; init; }
}

/// <summary>What <see cref="ImplicitBackdoorUnlearning"/> measured: the last perturbation and how much it fooled.</summary>
public sealed record ImplicitBackdoorUnlearningResult : BackdoorDefenseResult
{
    /// <summary>L2 norm of the last round's perturbation (images in [0, 1]); absent when no round ran.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? PerturbationNorm { get; init; }

    /// <summary>Share of the holdout's training part whose prediction the last round's perturbation changes, before
    /// that round's unlearning.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? FoolingRate { get; init; }

    /// <summary>The same share for a perturbation searched against the returned network.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? FoolingRateFinal { get; init; }

    /// <summary>Validation accuracy of the input model (absent without a validation split).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? ValidationAccuracyInitial { get; init; }

    /// <summary>Validation accuracy of the returned network (absent without a validation split).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? ValidationAccuracyFinal { get; init; }
}

/// <summary>What <see cref="AntiBackdoorLearning"/> isolated and unlearned.</summary>
public sealed record AntiBackdoorLearningResult : BackdoorDefenseResult
{
    /// <summary>The untrusted samples isolated as suspected poison and unlearned (ascending).</summary>
    [JsonIgnore]
    public IReadOnlyList<int> IsolatedIndices { get; init; } = [];

    /// <summary>How many samples were isolated.</summary>
    public int IsolatedCount => IsolatedIndices.Count;

    /// <summary>The largest loss among the isolated samples.</summary>
    public required double IsolationLossThreshold { get; init; }
}
