using TorchSharp;
using TrapReplace.Data;
using TrapReplace.Runtime;
using static TorchSharp.torch;

namespace TrapReplace.Evaluation;

/// <summary>
/// Computes CA, ASR, RA and per-class accuracy of a classifier in eval mode under no_grad.
/// The model's training mode is restored afterwards.
/// </summary>
public static class Evaluator
{
    /// <summary>Evaluates <paramref name="model"/> (images (N, 3, H, W) in [0, 1] to logits) on the clean test set and, if given, the triggered set.</summary>
    /// <param name="model">The classifier.</param>
    /// <param name="cleanTest">The whole clean test set.</param>
    /// <param name="triggered">Triggered non-target test images, or null for a clean-only report.</param>
    /// <param name="device">Device to run on (the model must already be there).</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <param name="channelsLast">Run on channels-last batches (<see cref="MemoryLayout"/>; faster on CPU, equal up to floating-point summation order).</param>
    public static EvaluationReport Evaluate(nn.Module<Tensor, Tensor> model, ImageDataset cleanTest, ITriggeredTestSet? triggered = null, Device? device = null, int batchSize = 500,
        bool channelsLast = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(cleanTest);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var on = device ?? CPU;
        return InEvalMode(model, () =>
        {
            var correctPerClass = new long[cleanTest.ClassCount];
            var countPerClass = new long[cleanTest.ClassCount];
            var predictions = Predict(model, cleanTest.Images, asUint8: true, on, batchSize, channelsLast);
            var truth = cleanTest.LabelArray();
            for (int i = 0; i < truth.Length; i++)
            {
                countPerClass[truth[i]]++;
                if (predictions[i] == truth[i]) correctPerClass[truth[i]]++;
            }
            double clean = truth.Length == 0 ? 0 : (double)correctPerClass.Sum() / truth.Length;
            var perClass = correctPerClass.Select((c, k) => countPerClass[k] == 0 ? 0 : (double)c / countPerClass[k]).ToArray();

            var report = new EvaluationReport(clean, null, null, perClass, truth.Length, 0);
            return triggered is null ? report : AddTriggered(model, report, triggered, on, batchSize, channelsLast);
        });
    }

    /// <summary>
    /// Adds ASR, RA and the triggered images' share per class to a clean-only report of the same model (from
    /// <see cref="Evaluate"/> without a triggered set), so the triggered sets of several attacks are measured against one
    /// pass over the clean test set; the result equals <see cref="Evaluate"/> with that triggered set.
    /// </summary>
    /// <param name="model">The classifier <paramref name="clean"/> was measured on.</param>
    /// <param name="clean">Its clean-only report.</param>
    /// <param name="triggered">Triggered non-target test images.</param>
    /// <param name="device">Device to run on (the model must already be there).</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <param name="channelsLast">Run on channels-last batches.</param>
    /// <exception cref="ArgumentException"><paramref name="clean"/> already has a triggered part, or the triggered set holds target-class images.</exception>
    public static EvaluationReport WithTriggered(nn.Module<Tensor, Tensor> model, EvaluationReport clean, ITriggeredTestSet triggered, Device? device = null,
        int batchSize = 500, bool channelsLast = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(clean);
        ArgumentNullException.ThrowIfNull(triggered);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (clean.AttackSuccessRate is not null || clean.TriggeredCount > 0)
            throw new ArgumentException("the report already measures a triggered set; give a clean-only report (Evaluate without a triggered set)", nameof(clean));
        var on = device ?? CPU;
        return InEvalMode(model, () => AddTriggered(model, clean, triggered, on, batchSize, channelsLast));
    }

    // Runs a measurement in eval mode under no_grad with the runtime prepared; the model's mode is restored.
    private static T InEvalMode<T>(nn.Module<Tensor, Tensor> model, Func<T> measure)
    {
        TorchRuntime.Prepare(0);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            return measure();
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    // The triggered part of a report; the callers run it in eval mode under no_grad.
    private static EvaluationReport AddTriggered(nn.Module<Tensor, Tensor> model, EvaluationReport clean, ITriggeredTestSet triggered, Device device, int batchSize,
        bool channelsLast)
    {
        var triggeredPredictions = Predict(model, triggered.Images, asUint8: false, device, batchSize, channelsLast);
        var trueLabels = triggered.TrueLabels.cpu().data<long>().ToArray();
        if (trueLabels.Length != triggeredPredictions.Length)
            throw new ArgumentException($"triggered set has {triggeredPredictions.Length} images but {trueLabels.Length} labels", nameof(triggered));
        if (trueLabels.Any(l => l == triggered.TargetClass))
            throw new ArgumentException($"triggered set contains target-class ({triggered.TargetClass}) images; ASR counts non-target images only", nameof(triggered));
        if (trueLabels.Length == 0) return clean;
        var counts = new int[clean.PerClassAccuracy.Count];
        foreach (var p in triggeredPredictions) counts[p]++;
        var share = counts.Select(c => (double)c / trueLabels.Length).ToArray();
        double robust = (double)triggeredPredictions.Where((p, i) => p == trueLabels[i]).Count() / trueLabels.Length;
        return clean with { AttackSuccessRate = share[triggered.TargetClass], RobustAccuracy = robust, TriggeredCount = trueLabels.Length, TriggeredPredictionShare = share };
    }

    /// <summary>Accuracy of <paramref name="model"/> on a data set (used for validation during training).</summary>
    public static double Accuracy(nn.Module<Tensor, Tensor> model, ImageDataset data, Device device, int batchSize = 500, bool channelsLast = true)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var noGrad = no_grad();
        var predictions = Predict(model, data.Images, asUint8: true, device, batchSize, channelsLast);
        var truth = data.LabelArray();
        return truth.Length == 0 ? 0 : (double)predictions.Where((p, i) => p == truth[i]).Count() / truth.Length;
    }

    /// <summary>Log-softmax outputs of <paramref name="model"/> on every image of <paramref name="data"/>, row-major
    /// (image i's class c at i·classes + c), in eval mode under no_grad; the model's mode is restored.</summary>
    internal static float[] LogProbabilities(nn.Module<Tensor, Tensor> model, ImageDataset data, Device device, int batchSize = 500, bool channelsLast = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            long n = data.Images.shape[0];
            var result = new float[n * data.ClassCount];
            for (long start = 0; start < n; start += batchSize)
            {
                using var scope = StepScope.Begin();
                long count = Math.Min(batchSize, n - start);
                var batch = data.ImagesAsFloat(start, count).to(device);
                if (channelsLast) batch = MemoryLayout.ToChannelsLast(batch);
                var logits = model.call(batch);
                if (logits.shape[1] != data.ClassCount)
                    throw new ArgumentException($"the model gives {logits.shape[1]} logits; the data set has {data.ClassCount} classes", nameof(data));
                var values = nn.functional.log_softmax(logits, 1).to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
                Array.Copy(values, 0, result, start * data.ClassCount, values.Length);
            }
            return result;
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    private static long[] Predict(nn.Module<Tensor, Tensor> model, Tensor images, bool asUint8, Device device, int batchSize, bool channelsLast)
    {
        long n = images.shape[0];
        var result = new long[n];
        for (long start = 0; start < n; start += batchSize)
        {
            using var scope = StepScope.Begin();
            long count = Math.Min(batchSize, n - start);
            var batch = images.narrow(0, start, count);
            batch = asUint8 ? batch.to(ScalarType.Float32).div_(255f) : batch.to(ScalarType.Float32);
            batch = batch.to(device);
            if (channelsLast) batch = MemoryLayout.ToChannelsLast(batch);
            var predicted = model.call(batch).argmax(1).cpu().data<long>().ToArray();
            Array.Copy(predicted, 0, result, start, count);
        }
        return result;
    }
}
