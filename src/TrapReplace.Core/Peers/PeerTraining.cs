using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Peers;

/// <summary>Network and data helpers shared by the peer defenses.</summary>
internal static class PeerModels
{
    /// <summary>A new network of <paramref name="backbone"/> (no decoder) holding a copy of
    /// <paramref name="source"/>'s stem and head, on <paramref name="device"/>; <paramref name="source"/> is not modified.</summary>
    public static TrapNetwork Copy(TrapNetwork source, IBackbone backbone, int seed, Device device)
    {
        var network = ModelSeed.Build(seed, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null) { Backbone = backbone });
        try
        {
            NetworkState.Copy(source.Stem.Module, network.Stem.Module, "stem");
            NetworkState.Copy(source.Head.Module, network.Head.Module, "head");
        }
        catch
        {
            network.Dispose();
            throw;
        }
        network.to(device);
        return network;
    }

    /// <summary>The step runner of a peer's training stage, from its runtime settings (layout, seeds).</summary>
    public static EpochRunner Runner(TrainingRuntime options, string stage, ILogger logger, Device device, Action<TrainingStepEventArgs> stepCompleted) => new()
    {
        ChannelsLast = options.ChannelsLast, Stage = stage, Logger = logger, Device = device, ModelSeed = options.ModelSeed,
        DataSeed = options.DataSeed, StepCompleted = stepCompleted,
    };

    /// <summary>The classifier: the last <see cref="Linear"/> registered in the head, whose output must be the logits.</summary>
    /// <exception cref="NotSupportedException">The head has no linear layer.</exception>
    public static Linear Classifier(nn.Module head) =>
        head.named_modules().Select(m => m.module).OfType<Linear>().LastOrDefault()
        ?? throw new NotSupportedException("the classification head has no Linear layer; the defense needs the final linear classifier");

    /// <summary>Images <paramref name="start"/> .. start + count of <paramref name="data"/> as floats in [0, 1] on <paramref name="device"/> (in the caller's dispose scope).</summary>
    public static Tensor FloatImages(ImageDataset data, long start, long count, Device device) =>
        data.ImagesAsFloat(start, count).to(device);

    /// <summary>Accuracy on <paramref name="validation"/> in eval mode, or null when it is empty.</summary>
    public static double? ValidationAccuracy(TrapNetwork network, ImageDataset validation, Device device, bool channelsLast)
    {
        if (validation.Count == 0) return null;
        network.eval();
        return Evaluator.Accuracy(network, validation, device, channelsLast: channelsLast);
    }

    /// <summary>Checks the data matches the backbone (image size and class count).</summary>
    public static void CheckData(IBackbone backbone, ImageDataset data, string parameter)
    {
        var expected = backbone.InputShape;
        if (data.Height != expected.Height || data.Width != expected.Width)
            throw new ArgumentException($"{backbone.Name} expects {expected.Height}x{expected.Width} images; the data set '{data.Name}' has {data.Height}x{data.Width}", parameter);
        if (data.ClassCount != backbone.ClassCount)
            throw new ArgumentException($"{backbone.Name} was built for {backbone.ClassCount} classes; the data set '{data.Name}' has {data.ClassCount}", parameter);
    }

    /// <summary>Splits the clean holdout into a training part and a stratified, seeded validation part
    /// (both owned by the caller); a fraction of 0 keeps everything for training.</summary>
    public static (ImageDataset Train, ImageDataset Validation) SplitHoldout(ImageDataset holdout, double validationFraction, int seed)
    {
        if (validationFraction <= 0)
            return (holdout.Subset(Enumerable.Range(0, holdout.Count).ToArray()), holdout.Subset([]));
        return HoldoutSplit.Create(holdout.LabelArray(), validationFraction, seed).Apply(holdout);
    }
}
