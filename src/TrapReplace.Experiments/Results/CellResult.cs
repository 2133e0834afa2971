using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using TrapReplace.Evaluation;

namespace TrapReplace.Experiments.Results;

/// <summary>CA, ASR and RA as fractions in [0, 1]; ASR and RA are null without an attack.</summary>
public sealed record Metrics(double CleanAccuracy, double? AttackSuccessRate, double? RobustAccuracy)
{
    /// <summary>The three numbers of an evaluation report.</summary>
    public static Metrics From(EvaluationReport report) => new(report.CleanAccuracy, report.AttackSuccessRate, report.RobustAccuracy);

    /// <summary>Defense effectiveness rating (<see cref="DefenseEffectiveness"/>) of <paramref name="after"/> against
    /// <paramref name="before"/>; null when either has no attack success rate.</summary>
    public static double? Der(Metrics before, Metrics after) =>
        before.AttackSuccessRate is double asrBefore && after.AttackSuccessRate is double asrAfter
            ? DefenseEffectiveness.Rating(before.CleanAccuracy, asrBefore, after.CleanAccuracy, asrAfter)
            : null;
}

/// <summary>One point of a per-epoch curve, measured on the curve subset of the test set.</summary>
/// <param name="Phase">stage1 (trap or plain training) or defense.</param>
/// <param name="Epoch">Epoch within the phase, counted from 1.</param>
/// <param name="Loss">Mean training loss of the epoch.</param>
/// <param name="TrainAccuracy">Accuracy on the training batches as seen.</param>
/// <param name="CleanAccuracy">CA on the curve subset.</param>
/// <param name="AttackSuccessRate">ASR on the triggered curve subset; null without an attack.</param>
public sealed record CurvePoint(string Phase, int Epoch, double Loss, double TrainAccuracy, double CleanAccuracy, double? AttackSuccessRate)
{
    /// <summary>The defense's own label-free attack-success estimate after this epoch (trap-cleanse's second replacement), if any.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? EstimatedAttackSuccess { get; init; }
}

/// <summary>Epoch counts of the two phases.</summary>
/// <summary>Metrics on a cell's exact test subset (see <see cref="CellResult.ExactTest"/>).</summary>
/// <param name="Records">Which test records, e.g. "0-999".</param>
/// <param name="TestCount">Clean images measured (the cell's test selection within those records).</param>
/// <param name="TriggeredCount">Triggered non-target images measured; 0 without an attack.</param>
/// <param name="CleanAccuracy">Clean accuracy of the cell's final model.</param>
/// <param name="AttackSuccessRate">Its attack success rate; null without an attack.</param>
/// <param name="RobustAccuracy">Its robust accuracy; null without an attack.</param>
/// <param name="Undefended">The stage-1 model's metrics on the same images; null for an undefended cell.</param>
/// <param name="Der">Defense effectiveness rating on these images; null when not defined.</param>
public sealed record ExactTestMetrics(string Records, int TestCount, int TriggeredCount, double CleanAccuracy, double? AttackSuccessRate,
    double? RobustAccuracy, Metrics? Undefended, double? Der);

/// <summary>Epochs trained in each phase.</summary>
/// <param name="Stage1">Stage 1 (trap or plain training).</param>
/// <param name="Defense">The defense, all its sub-stages together (0 for none).</param>
public sealed record EpochCounts(int Stage1, int Defense);

/// <summary>Library and native versions behind a result, and the CPU it ran on.</summary>
/// <param name="TrapReplace">This library's version.</param>
/// <param name="TorchSharp">TorchSharp's version.</param>
/// <param name="Libtorch">The native libtorch version.</param>
/// <param name="Dotnet">The .NET runtime version.</param>
/// <param name="Os">The operating system.</param>
/// <param name="ProcessorCount">Logical processors the process could see.</param>
/// <param name="Cpu">The CPU (<see cref="TrapReplace.Runtime.CpuIdentity.Describe"/>): speed figures and the last bits of the
/// floating point depend on it; null where it cannot be read and in files of schema 1.</param>
public sealed record VersionInfo(string TrapReplace, string TorchSharp, string Libtorch, string Dotnet, string Os, int ProcessorCount, string? Cpu = null);

/// <summary>
/// The result file of one cell. Field names are a contract (snake_case in JSON): dataset, backbone,
/// attack, defense, seed, profile, clean_accuracy, attack_success_rate, robust_accuracy, undefended,
/// epochs, train_seconds, images_per_second, options, versions.
/// </summary>
public sealed record CellResult
{
    /// <summary>The format version this library writes. 2 added <see cref="VersionInfo.Cpu"/>; files of schema 1 still read.</summary>
    public const int CurrentSchema = 2;

    /// <summary>Format version of this file.</summary>
    public int Schema { get; init; } = CurrentSchema;

    /// <summary>cifar10 or gtsrb.</summary>
    public required string Dataset { get; init; }

    /// <summary>wrn16-1 or preact-resnet18.</summary>
    public required string Backbone { get; init; }

    /// <summary>The attack's name, or none.</summary>
    public required string Attack { get; init; }

    /// <summary>The defense's name, or none.</summary>
    public required string Defense { get; init; }

    /// <summary>The cell's seed.</summary>
    public required int Seed { get; init; }

    /// <summary>The defense's own seed when the cell gave one (<see cref="Specs.CellSpec.DefenseSeed"/>); absent from the
    /// file otherwise, when the defense ran with <see cref="Seed"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DefenseSeed { get; init; }

    /// <summary><c>0</c>, or <c>0/d1</c> with defense seed 1 (<see cref="Specs.CellSpec.SeedLabel"/>).</summary>
    [JsonIgnore]
    public string SeedLabel => Specs.CellSpec.FormatSeedLabel(Seed, DefenseSeed);

    /// <summary>The profile's name.</summary>
    public required string Profile { get; init; }

    /// <summary>The attack's target class.</summary>
    public required int TargetClass { get; init; }

    /// <summary>The poison ratio in use; null without an attack.</summary>
    public required double? PoisonRatio { get; init; }

    /// <summary>WholeTrainingSet, TargetClass, or PerBatch (WaNet); null without an attack.</summary>
    public required string? PoisonRatioOf { get; init; }

    /// <summary>Images poisoned in the untrusted set (0 for WaNet, which poisons each batch as it trains).</summary>
    public required int PoisonedCount { get; init; }

    /// <summary>Clean accuracy of the final model on the test set.</summary>
    public required double CleanAccuracy { get; init; }

    /// <summary>Share of triggered non-target test images classified as the target; null without an attack.</summary>
    public required double? AttackSuccessRate { get; init; }

    /// <summary>Share of triggered non-target test images classified as their true class; null without an attack.</summary>
    public required double? RobustAccuracy { get; init; }

    /// <summary>Metrics of the undefended reference (the trapped model's own head for trap-replace, the plainly trained model for replace-only and fine-tune); null for defense none.</summary>
    public required Metrics? Undefended { get; init; }

    /// <summary>BackdoorBench's defense effectiveness rating against <see cref="Undefended"/>; null when either side has no ASR.</summary>
    public required double? Der { get; init; }

    /// <summary>The same metrics on CIFAR-10's test records 0-999, which hold the official test images in every copy of
    /// the data (the shared offline copy's other 9,000 are JPEG-degraded); null for GTSRB and for files written before it existed.</summary>
    public ExactTestMetrics? ExactTest { get; init; }

    /// <summary>Share of the triggered test images the final model assigns to each class (index = class); null for an
    /// undefended cell, without an attack, and in files written before it existed.</summary>
    public IReadOnlyList<double>? TriggeredPredictionShare { get; init; }

    /// <summary>Clean accuracy per class (index = class).</summary>
    public required IReadOnlyList<double> PerClassAccuracy { get; init; }

    /// <summary>Test images measured.</summary>
    public required int TestCount { get; init; }

    /// <summary>Triggered non-target test images measured.</summary>
    public required int TriggeredCount { get; init; }

    /// <summary>Images in the untrusted (possibly poisoned) training set.</summary>
    public required int UntrustedCount { get; init; }

    /// <summary>Images in the clean holdout.</summary>
    public required int HoldoutCount { get; init; }

    /// <summary>Epochs trained per phase.</summary>
    public required EpochCounts Epochs { get; init; }

    /// <summary>Stage-1 plus defense training time, in seconds (stage 1 as measured when it was trained, also when reused from the cache).</summary>
    public required double TrainSeconds { get; init; }

    /// <summary>Stage-1 training time, in seconds (as measured when it was trained).</summary>
    public required double Stage1Seconds { get; init; }

    /// <summary>Defense time, in seconds.</summary>
    public required double DefenseSeconds { get; init; }

    /// <summary>Evaluation time, in seconds.</summary>
    public required double EvaluationSeconds { get; init; }

    /// <summary>Stage-1 training throughput (images per second, mean over epochs).</summary>
    public required double ImagesPerSecond { get; init; }

    /// <summary>True when stage 1 came from the stage-1 cache (trained by an earlier cell of the same group).</summary>
    public required bool Stage1Reused { get; init; }

    /// <summary>Per-epoch loss and accuracy of every phase, measured on a fixed subset of the test set.</summary>
    public required IReadOnlyList<CurvePoint> Curves { get; init; }

    /// <summary>Every resolved option: profile, stage-1, defense, data split, attack.</summary>
    public required JsonObject Options { get; init; }

    /// <summary>Library and native versions.</summary>
    public required VersionInfo Versions { get; init; }

    /// <summary>Intra-op threads the cell ran with.</summary>
    public required int Threads { get; init; }

    /// <summary>The device it ran on.</summary>
    public required string Device { get; init; }

    /// <summary>When the cell finished.</summary>
    public required DateTimeOffset FinishedUtc { get; init; }
}
