using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TrapReplace.Attacks.Triggers;
using TrapReplace.Runtime;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Poisoning;

/// <summary>
/// The poisoning procedure shared by every built-in attack: validate, choose the samples with the
/// <see cref="PoisoningPolicy"/>, stamp the trigger on them (in chunks, each in its own dispose scope),
/// relabel for dirty-label poisoning, and build the triggered test set for the attack success rate.
/// </summary>
public abstract class BackdoorAttack : IAttack
{
    /// <summary>Images processed per chunk when stamping triggers.</summary>
    private const int ChunkSize = 512;

    /// <summary>Initialises the attack.</summary>
    /// <param name="name">The kebab-case attack name.</param>
    /// <param name="trigger">The trigger.</param>
    /// <param name="policy">The poisoning policy as this attack applies it.</param>
    /// <param name="logger">Logger; <see cref="NullLogger"/> when null.</param>
    protected BackdoorAttack(string name, ITrigger trigger, PoisoningPolicy policy, ILogger? logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(trigger);
        ArgumentNullException.ThrowIfNull(policy);
        Name = name;
        Trigger = trigger;
        Policy = policy;
        Logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public ITrigger Trigger { get; }

    /// <inheritdoc />
    public PoisoningPolicy Policy { get; }

    /// <summary>Gets the logger.</summary>
    protected ILogger Logger { get; }

    /// <inheritdoc />
    public PoisonedDataset Poison(Tensor images, Tensor labels, int numClasses)
    {
        PixelSpace.ValidateImages(images);
        long[] labelValues = ReadLabels(labels, images.shape[0]);
        Policy.ThrowIfInvalid(numClasses);
        ValidateLabelRange(labelValues, numClasses);

        int[] chosen = ChooseIndices(labelValues);
        var poisonedImages = images.clone();
        var poisonedLabels = labels.clone();
        try
        {
            using var generator = new Generator(unchecked((ulong)(uint)Policy.Seed));
            for (int start = 0; start < chosen.Length; start += ChunkSize)
            {
                using var step = StepScope.Begin();
                var chunk = chosen.AsSpan(start, Math.Min(ChunkSize, chosen.Length - start)).ToArray().Select(i => (long)i).ToArray();
                var index = tensor(chunk, device: images.device);
                var selected = images.index_select(0, index);
                var selectedLabels = labels.index_select(0, index.to(labels.device));
                var prepared = Prepare(selected, selectedLabels, generator);
                var stamped = Trigger.Apply(prepared).to_type(images.dtype);
                poisonedImages.index_copy_(0, index, stamped);
                if (Policy.LabelMode == LabelMode.DirtyLabel)
                {
                    poisonedLabels.index_fill_(0, index.to(labels.device), Policy.TargetClass);
                }
            }
        }
        catch
        {
            poisonedImages.Dispose();
            poisonedLabels.Dispose();
            throw;
        }

        AttackLog.Poisoned(Logger, Name, chosen.Length, labelValues.Length, Policy.LabelMode, Policy.TargetClass,
            Policy.PoisonRatio, Policy.Denominator, Policy.Seed);
        return new PoisonedDataset(Name, poisonedImages, poisonedLabels, chosen, Policy);
    }

    /// <inheritdoc />
    public TriggeredTestSet CreateTriggeredTestSet(Tensor images, Tensor labels)
    {
        PixelSpace.ValidateImages(images);
        long[] labelValues = ReadLabels(labels, images.shape[0]);
        int[] sources = Enumerable.Range(0, labelValues.Length).Where(i => labelValues[i] != Policy.TargetClass).ToArray();
        var parts = new List<Tensor>();
        Tensor triggered;
        Tensor trueLabels;
        try
        {
            for (int start = 0; start < sources.Length; start += ChunkSize)
            {
                using var step = StepScope.Begin();
                var chunk = sources.AsSpan(start, Math.Min(ChunkSize, sources.Length - start)).ToArray().Select(i => (long)i).ToArray();
                var index = tensor(chunk, device: images.device);
                parts.Add(ApplyTestTrigger(images.index_select(0, index)).to_type(images.dtype).MoveToOuterDisposeScope());
            }

            triggered = parts.Count > 0
                ? cat(parts, 0)
                : empty(new long[] { 0, 3, images.shape[2], images.shape[3] }, images.dtype, images.device);
            using var labelIndex = tensor(sources.Select(i => (long)i).ToArray(), device: labels.device);
            trueLabels = labels.index_select(0, labelIndex);
        }
        finally
        {
            foreach (var part in parts)
            {
                part.Dispose();
            }
        }

        AttackLog.TriggeredTestSet(Logger, Name, sources.Length, Policy.TargetClass, labelValues.Length - sources.Length);
        return new TriggeredTestSet(Name, triggered, trueLabels, sources, Policy.TargetClass);
    }

    /// <summary>Transforms the chosen training images before the trigger is stamped on them; the default returns them
    /// unchanged. The label-consistent attack replaces them by adversarial examples here.</summary>
    /// <param name="images">A chunk of chosen images (n, 3, H, W) in [0, 1].</param>
    /// <param name="labels">Their original labels (n).</param>
    /// <param name="generator">A CPU generator seeded with <see cref="PoisoningPolicy.Seed"/>, shared by all chunks of one
    /// <see cref="Poison"/> call.</param>
    /// <returns>The images to stamp, (n, 3, H, W) in [0, 1]; may be created in the caller's dispose scope.</returns>
    protected virtual Tensor Prepare(Tensor images, Tensor labels, Generator generator) => images;

    /// <summary>Applies the test-time trigger; the default is <see cref="Trigger"/>.</summary>
    /// <param name="images">A chunk of non-target test images (n, 3, H, W) in [0, 1].</param>
    /// <returns>The triggered images.</returns>
    protected virtual Tensor ApplyTestTrigger(Tensor images) => Trigger.Apply(images);

    /// <summary>Returns the policy with <see cref="LabelMode.CleanLabel"/>, for attacks that are clean-label by definition.</summary>
    /// <param name="policy">The caller's policy.</param>
    /// <returns>A copy with the label mode overridden.</returns>
    protected static PoisoningPolicy ForceCleanLabel(PoisoningPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy with { LabelMode = LabelMode.CleanLabel };
    }

    /// <summary>Checks a label tensor and copies it to the CPU.</summary>
    internal static long[] ReadLabels(Tensor labels, long count, string paramName = "labels")
    {
        ArgumentNullException.ThrowIfNull(labels, paramName);
        if (labels.dim() != 1 || labels.shape[0] != count)
        {
            throw new ArgumentException(
                $"Expected labels of shape ({count}), got ({string.Join(", ", labels.shape)}).", paramName);
        }

        if (labels.dtype != ScalarType.Int64)
        {
            throw new ArgumentException($"Expected int64 labels, got {labels.dtype}.", paramName);
        }

        using var cpu = labels.cpu();
        return cpu.data<long>().ToArray();
    }

    private static void ValidateLabelRange(long[] labels, int numClasses)
    {
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] < 0 || labels[i] >= numClasses)
            {
                throw new ArgumentException(
                    $"Label {labels[i]} at index {i} is outside [0, {numClasses - 1}] (numClasses = {numClasses}).", nameof(labels));
            }
        }
    }

    private int[] ChooseIndices(long[] labels)
    {
        int targetCount = labels.Count(l => l == Policy.TargetClass);
        int count = Policy.PoisonCount(labels.Length, targetCount);
        bool clean = Policy.LabelMode == LabelMode.CleanLabel;
        int[] candidates = Enumerable.Range(0, labels.Length)
            .Where(i => clean ? labels[i] == Policy.TargetClass : labels[i] != Policy.TargetClass)
            .ToArray();
        if (count > candidates.Length)
        {
            string denominator = Policy.Denominator == PoisonRatioDenominator.TargetClass
                ? $"{targetCount} target-class images"
                : $"{labels.Length} training images";
            string message = clean
                ? $"The clean-label attack '{Name}' needs {count} target-class images (PoisonRatio {Policy.PoisonRatio} of {denominator}) " +
                  $"but class {Policy.TargetClass} has only {candidates.Length}. Lower PoisonRatio or use PoisonRatioDenominator.TargetClass."
                : $"The attack '{Name}' needs {count} non-target images (PoisonRatio {Policy.PoisonRatio} of {denominator}) " +
                  $"but only {candidates.Length} images are outside class {Policy.TargetClass}.";
            throw new ArgumentException(message, nameof(PoisoningPolicy.PoisonRatio));
        }

        var random = new Random(Policy.Seed);
        for (int i = 0; i < count; i++)
        {
            int j = random.Next(i, candidates.Length);
            (candidates[i], candidates[j]) = (candidates[j], candidates[i]);
        }

        var chosen = candidates[..count];
        Array.Sort(chosen);
        return chosen;
    }
}
