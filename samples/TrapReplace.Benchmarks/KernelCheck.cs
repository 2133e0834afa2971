using System.Globalization;
using TorchSharp;
using TrapReplace.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace TrapReplace.Benchmarks;

/// <summary>
/// <c>--kernel-check</c>: libtorch's float32 convolution kernels against float64 on this CPU, in both layouts and over
/// channel counts that are and are not multiples of 16; then training-mode BatchNorm by input mean, and one whole
/// trap-network training step. A wrong kernel shows as a relative error far above float32's
/// ~1e-6 (or NaN). Found on the Zen 5 EPYC (family 26) with libtorch 2.10: standard-layout convolutions whose input has
/// 3-12 or 24 channels at stride 1 in a transposed convolution (a convolution's input gradient) return wrong values,
/// and a 24-channel forward convolution NaN; channels-last is right everywhere. WRN-16-1's own layers (3 input
/// channels forward, then 16/32/64) are not among them.
/// </summary>
internal static class KernelCheck
{
    private const double Tolerance = 1e-4;

    public static int Run(Action<string> emit)
    {
        emit($"float32 against float64, relative error (max |difference| / max |float64|); 'WRONG' above {Tolerance:E0}. CPU: {CpuIdentity.Current?.Describe() ?? "unknown"}");
        emit("");
        emit("| layout | input channels | conv2d 3x3 | conv_transpose2d 4x4 stride 2 | conv_transpose2d 3x3 stride 1 (= a convolution's input gradient) |");
        emit("|---|---|---|---|---|");
        int wrong = 0;
        foreach (var channelsLast in new[] { false, true })
            foreach (var channels in new[] { 3, 4, 8, 12, 16, 24, 32, 64 })
            {
                using var scope = NewDisposeScope();
                manual_seed(7);
                var x = randn(4, channels, 8, 8);
                if (channelsLast) x = MemoryLayout.ToChannelsLast(x);
                var weight3 = randn(32, channels, 3, 3);
                var transposed4 = randn(channels, 32, 4, 4);
                var transposed3 = randn(channels, 32, 3, 3);
                var cells = new[]
                {
                    Error(x, t => functional.conv2d(t, weight3.to(t.dtype), padding: [1, 1])),
                    Error(x, t => functional.conv_transpose2d(t, transposed4.to(t.dtype), strides: [2, 2], padding: [1, 1])),
                    Error(x, t => functional.conv_transpose2d(t, transposed3.to(t.dtype), padding: [1, 1])),
                };
                wrong += cells.Count(e => !(e <= Tolerance));
                emit($"| {(channelsLast ? "channels-last" : "NCHW")} | {channels} | {string.Join(" | ", cells.Select(Cell))} |");
            }
        emit("");
        emit("Training-mode batch_norm (16 x 16 x 32 x 32, input = standard normal + mean), forward and input gradient:");
        emit("");
        emit("| layout | input mean | forward | input gradient |");
        emit("|---|---|---|---|");
        foreach (var channelsLast in new[] { false, true })
            foreach (var mean in new[] { 0.0, 3.0, 30.0 })
            {
                var (forward, backward) = BatchNormError(channelsLast, mean);
                emit(string.Create(CultureInfo.InvariantCulture, $"| {(channelsLast ? "channels-last" : "NCHW")} | {mean} | {forward:E1} | {backward:E1} |"));
            }
        emit("");
        emit("One training step of the WRN-16-1 trap network (batch 16, cross-entropy + 10 x reconstruction MSE) in float32 against the same step in float64: ||gradient difference|| / ||float64 gradient||, worst weight tensor:");
        emit("");
        emit("| layout | worst weight gradient | error |");
        emit("|---|---|---|");
        foreach (var channelsLast in new[] { false, true })
        {
            var (name, error) = NetworkStep(channelsLast);
            emit($"| {(channelsLast ? "channels-last" : "NCHW")} | {name} | {error.ToString("E1", CultureInfo.InvariantCulture)} |");
        }
        emit("");
        emit(wrong == 0 ? "every kernel checked is right on this CPU" : $"{wrong} kernel(s) wrong on this CPU: keep the layers that reach them in channels-last (the library's default)");
        return wrong == 0 ? 0 : 1;
    }

    private static (double Forward, double Backward) BatchNormError(bool channelsLast, double mean)
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var x = randn(16, 16, 32, 32).add(mean);
        var upstream = randn(16, 16, 32, 32);
        (Tensor Output, Tensor Gradient) Run(ScalarType type, bool lastLayout)
        {
            var input = x.to(type);
            if (lastLayout) input = MemoryLayout.ToChannelsLast(input);
            input = input.detach().requires_grad_(true);
            var output = functional.batch_norm(input, zeros(16, dtype: type), ones(16, dtype: type), ones(16, dtype: type), zeros(16, dtype: type), training: true);
            output.mul(upstream.to(type)).sum().backward();
            return (output.to(ScalarType.Float64), input.grad!.to(ScalarType.Float64));
        }
        var single = Run(ScalarType.Float32, channelsLast);
        var exact = Run(ScalarType.Float64, false);
        static double Relative(Tensor a, Tensor b) => a.sub(b).norm().item<double>() / b.norm().item<double>();
        return (Relative(single.Output, exact.Output), Relative(single.Gradient, exact.Gradient));
    }

    private static (string Name, double Error) NetworkStep(bool channelsLast)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var backbone = new TrapReplace.Models.WideResNet16Backbone(10);
        using var single = new TrapReplace.Models.TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), backbone.CreateReconstructionHead());
        using var exact = new TrapReplace.Models.TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), backbone.CreateReconstructionHead());
        exact.load_state_dict(single.state_dict());
        exact.to(ScalarType.Float64);
        var images = rand(16, 3, 32, 32);
        var labels = randint(0, 10, [16]);
        Dictionary<string, Tensor> Gradients(TrapReplace.Models.TrapNetwork network, Tensor input)
        {
            network.train();
            network.zero_grad();
            var (logits, reconstruction) = network.ForwardWithReconstruction(input);
            functional.cross_entropy(logits, labels).add(functional.mse_loss(reconstruction!, input).mul(10)).backward();
            return network.named_parameters().Where(p => p.parameter.grad is not null && p.parameter.dim() > 1)
                .ToDictionary(p => p.name, p => p.parameter.grad!.to(ScalarType.Float64));
        }
        var approximate = Gradients(single, channelsLast ? MemoryLayout.ToChannelsLast(images) : images);
        var reference = Gradients(exact, images.to(ScalarType.Float64));
        return approximate.Select(kv => (kv.Key, kv.Value.sub(reference[kv.Key]).norm().item<double>() / reference[kv.Key].norm().item<double>()))
            .MaxBy(t => double.IsNaN(t.Item2) ? double.MaxValue : t.Item2);
    }

    private static double Error(Tensor input, Func<Tensor, Tensor> op)
    {
        var single = op(input);
        var exact = op(input.to(ScalarType.Float64));
        return single.to(ScalarType.Float64).sub(exact).abs().max().item<double>() / exact.abs().max().item<double>();
    }

    private static string Cell(double error) =>
        (error <= Tolerance ? "" : "WRONG ") + error.ToString("E1", CultureInfo.InvariantCulture);
}
