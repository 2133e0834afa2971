using Microsoft.Extensions.Logging;

namespace TrapReplace.Attacks.Poisoning;

/// <summary>Source-generated log messages of the attack assembly (event ids 4100–4199).</summary>
internal static partial class AttackLog
{
    [LoggerMessage(EventId = 4101, Level = LogLevel.Information,
        Message = "{Attack}: poisoned {Count} of {Total} training samples ({LabelMode}, target class {TargetClass}, ratio {Ratio} of {Denominator}, seed {Seed})")]
    public static partial void Poisoned(ILogger logger, string attack, int count, int total, LabelMode labelMode, int targetClass, double ratio, PoisonRatioDenominator denominator, int seed);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information,
        Message = "{Attack}: triggered test set of {Count} non-target images (target class {TargetClass}, {Excluded} target-class images left out)")]
    public static partial void TriggeredTestSet(ILogger logger, string attack, int count, int targetClass, int excluded);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Debug,
        Message = "PGD: perturbed {Done} of {Total} images (epsilon {Epsilon}, {Steps} steps)")]
    public static partial void PgdProgress(ILogger logger, long done, long total, double epsilon, int steps);
}
