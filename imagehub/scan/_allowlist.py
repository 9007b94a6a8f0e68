"""The ops the safety scan lets through: one reviewed list, by family.

The scan (`_scan.py`) passes a SavedModel only when every op of every
graph and function is on this list; anything else is refused, named, with
the reason `refusal_reason` gives. The list holds what an image model
needs and nothing that reaches outside the process's memory: no op here
opens, reads, writes or lists a file, opens a connection, runs Python,
prints, maps memory, reads the environment or stops the process. Each
family carries one line saying why its ops are safe.

Checkpoint ops (`CHECKPOINT_SAVE_OPS`, `CHECKPOINT_RESTORE_OPS`) are on no
family: they read and write files, and the scan passes them only where they
form the standard saver (see `_scan.py`).

`tests/scan/test_scan_allowlist.py` shows the list is complete for every
model imagehub makes or reads (no false alarm), and that no registered op
of this TensorFlow whose name, arguments, attributes or documentation speak
of files, paths, the network or the host is on it (except the few in
`NAMED_LIKE_IO`, each with the reason its name misleads).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Family:
    """A group of allowed ops and why they are safe.

    Attributes:
        name: Short name, e.g. ``"nn"``.
        reason: One line: why none of its ops reaches outside memory.
        ops: The op type names.
    """

    name: str
    reason: str
    ops: frozenset[str]


def _ops(text: str) -> frozenset[str]:
    return frozenset(text.split())


FAMILIES: tuple[Family, ...] = (
    Family(
        "arithmetic",
        "element-wise and reducing math on tensors in memory",
        _ops(
            """
            Abs Acos Acosh Add AddN AddV2 Angle ApproximateEqual ArgMax
            ArgMin Asin Asinh Atan Atan2 Atanh BesselI0e BesselI1e Betainc
            Bucketize Cast Ceil ClipByValue ComplexAbs Conj Cos Cosh Cumprod
            Cumsum CumulativeLogsumexp Digamma DivNoNan Div Equal Erf Erfc
            Erfinv Exp Expm1 Floor FloorDiv FloorMod Greater GreaterEqual
            Igamma Igammac Imag Inv InvGrad IsFinite IsInf IsNan Less
            LessEqual Lgamma Log Log1p LogicalAnd LogicalNot LogicalOr
            Max Maximum Mean Min Minimum Mod Mul MulNoNan Ndtri Neg
            NextAfter NotEqual Polygamma Pow Prod Real RealDiv Reciprocal
            ReciprocalGrad Rint Round Rsqrt RsqrtGrad Select SelectV2 Sign
            Sin Sinh Sqrt SqrtGrad Square SquaredDifference Sub Sum Tan
            Tanh TanhGrad TruncateDiv TruncateMod Xdivy Xlog1py Xlogy Zeta
            All Any EuclideanNorm BitwiseAnd BitwiseOr BitwiseXor Invert
            LeftShift RightShift PopulationCount Complex Range LinSpace
            Bincount SegmentSum SegmentMean SegmentMax SegmentMin
            SegmentProd UnsortedSegmentSum UnsortedSegmentMax
            UnsortedSegmentMin UnsortedSegmentProd SparseSegmentSum
            SparseSegmentMean SparseSegmentSqrtN HistogramFixedWidth
            """
        ),
    ),
    Family(
        "linear algebra",
        "matrix products and decompositions of tensors in memory",
        _ops(
            """
            MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Einsum
            SparseMatMul _FusedMatMul MatrixBandPart MatrixDiag
            MatrixDiagV2 MatrixDiagV3 MatrixDiagPart MatrixDiagPartV2
            MatrixDiagPartV3 MatrixSetDiag MatrixSetDiagV2 MatrixSetDiagV3
            MatrixInverse MatrixDeterminant Cholesky Qr Svd SelfAdjointEigV2
            MatrixTriangularSolve MatrixSolve Cross 
            """
        ),
    ),
    Family(
        "nn",
        "convolutions, pooling, normalisation and activations in memory",
        _ops(
            """
            Conv Conv2D Conv3D Conv2DBackpropInput Conv2DBackpropFilter
            Conv3DBackpropInputV2 Conv3DBackpropFilterV2
            DepthwiseConv2dNative DepthwiseConv2dNativeBackpropInput
            DepthwiseConv2dNativeBackpropFilter _FusedConv2D
             FusedPadConv2D FusedResizeAndPadConv2D
            BiasAdd BiasAddV1 BiasAddGrad AvgPool AvgPool3D AvgPoolGrad
            MaxPool MaxPoolV2 MaxPool3D MaxPoolWithArgmax MaxPoolGrad
            MaxPoolGradV2 MaxPoolGradGrad FractionalAvgPool
            FractionalMaxPool FusedBatchNorm FusedBatchNormV2
            FusedBatchNormV3 FusedBatchNormGrad FusedBatchNormGradV2
            FusedBatchNormGradV3 _FusedBatchNormEx LRN LRNGrad Relu Relu6
            Relu6Grad ReluGrad LeakyRelu LeakyReluGrad Elu EluGrad Selu
            SeluGrad Softplus SoftplusGrad Softsign SoftsignGrad Sigmoid
            SigmoidGrad  Softmax LogSoftmax L2Loss InTopK InTopKV2
            TopKV2 TopK NthElement SoftmaxCrossEntropyWithLogits
            SparseSoftmaxCrossEntropyWithLogits Dilation2D
            BatchNormWithGlobalNormalization
            """
        ),
    ),
    Family(
        "array",
        "shape, slicing, gathering and layout of tensors in memory",
        _ops(
            """
            BatchToSpace BatchToSpaceND BroadcastArgs BroadcastGradientArgs
             Concat ConcatOffset ConcatV2 DepthToSpace Diag
            DiagPart DynamicPartition DynamicStitch EnsureShape ExpandDims
            ExtractImagePatches Fill Gather GatherNd GatherV2 Identity
            IdentityN InvertPermutation ListDiff MirrorPad MirrorPadGrad
            OneHot OnesLike Pack Pad PadV2 ParallelConcat
            ParallelDynamicStitch PreventGradient Rank Reshape 
            Reverse ReverseSequence ReverseV2 Roll ScatterNd
            ScatterNdNonAliasingAdd Shape ShapeN Size Slice Snapshot
            SpaceToBatch SpaceToBatchND SpaceToDepth Split SplitV Squeeze
            StopGradient StridedSlice StridedSliceGrad TensorScatterAdd
            TensorScatterMax TensorScatterMin TensorScatterSub
            TensorScatterUpdate Tile TileGrad Transpose Unique UniqueV2
            Unpack UnravelIndex Where ZerosLike CheckNumerics CheckNumericsV2
            Bitcast BroadcastTo  QuantizeAndDequantizeV2
            QuantizeAndDequantizeV3 QuantizeAndDequantizeV4
            FakeQuantWithMinMaxArgs FakeQuantWithMinMaxVars
            FakeQuantWithMinMaxVarsPerChannel SparseToDense
            SparseTensorDenseMatMul SparseReshape SparseFillEmptyRows
            
            """
        ),
    ),
    Family(
        "image",
        "decoding, resizing and colour operations on bytes and pixels "
        "already in memory (the serving signatures' input)",
        _ops(
            """
            DecodeImage DecodeJpeg DecodeAndCropJpeg DecodePng DecodeGif
            DecodeBmp DecodeWebP ExtractJpegShape EncodeJpeg EncodePng
            ResizeBilinear ResizeBilinearGrad ResizeNearestNeighbor
            ResizeNearestNeighborGrad ResizeBicubic ResizeBicubicGrad
            ResizeArea ScaleAndTranslate ScaleAndTranslateGrad CropAndResize
            AdjustContrastv2 AdjustHue AdjustSaturation HSVToRGB RGBToHSV
            NonMaxSuppressionV3 NonMaxSuppressionV4 NonMaxSuppressionV5
            ImageProjectiveTransformV2 ImageProjectiveTransformV3
            DrawBoundingBoxesV2 SampleDistortedBoundingBoxV2
            StatelessSampleDistortedBoundingBox
            """
        ),
    ),
    Family(
        "random",
        "pseudo-random numbers computed in memory (dropout, augmentation)",
        _ops(
            """
            RandomUniform RandomUniformInt RandomStandardNormal
            TruncatedNormal Multinomial RandomShuffle RandomGamma
            RandomPoisson RandomPoissonV2 ParameterizedTruncatedNormal
            StatelessRandomUniform StatelessRandomUniformInt
            StatelessRandomUniformV2 StatelessRandomUniformIntV2
            StatelessRandomUniformFullInt StatelessRandomUniformFullIntV2
            StatelessRandomNormal StatelessRandomNormalV2
            StatelessTruncatedNormal StatelessTruncatedNormalV2
            StatelessMultinomial StatelessRandomGetKeyCounter
            StatelessRandomGetKeyCounterAlg StatelessRandomGetAlg
            StatelessParameterizedTruncatedNormal StatelessRandomBinomial
            StatelessRandomGammaV2 StatelessRandomGammaV3
            StatelessRandomPoisson StatelessShuffle 
            RngReadAndSkip RngSkip StatefulUniform StatefulUniformInt
            StatefulUniformFullInt StatefulStandardNormalV2
            StatefulTruncatedNormal
            """
        ),
    ),
    Family(
        "control flow and functions",
        "calls into the model's own functions and branches between them; "
        "the functions called are scanned too",
        _ops(
            """
            If StatelessIf Case StatelessCase While StatelessWhile For
            PartitionedCall StatefulPartitionedCall Switch Merge Enter
            Exit NextIteration LoopCond RefSwitch RefMerge RefEnter RefExit
            RefNextIteration RefIdentity ControlTrigger NoOp Const
            HostConst Placeholder PlaceholderV2 PlaceholderWithDefault
            _Arg _Retval _DeviceArg _DeviceRetval Assert
            SymbolicGradient FakeParam OptionalFromValue OptionalGetValue
            OptionalHasValue OptionalNone
            """
        ),
    ),
    Family(
        "variables and resources",
        "the model's own variables, tensor lists and in-memory tables "
        "(no file-backed initialiser)",
        _ops(
            """
            VarHandleOp ReadVariableOp AssignVariableOp AssignAddVariableOp
            AssignSubVariableOp VarIsInitializedOp DestroyResourceOp
            DisableCopyOnRead ResourceGather ResourceGatherNd
            ResourceScatterAdd ResourceScatterSub ResourceScatterMul
            ResourceScatterDiv ResourceScatterMin ResourceScatterMax
            ResourceScatterUpdate ResourceScatterNdUpdate
            ResourceScatterNdAdd ResourceScatterNdSub
            ResourceStridedSliceAssign VariableShape _ReadVariablesOp
            _VarHandlesOp VariableV2 Variable Assign AssignAdd AssignSub
            IsVariableInitialized TemporaryVariable DestroyTemporaryVariable
            ScatterAdd ScatterSub ScatterUpdate ScatterNdUpdate
            ResourceApplyGradientDescent ResourceApplyMomentum
            ResourceApplyKerasMomentum ResourceApplyAdam ResourceApplyRMSProp
            ApplyGradientDescent ApplyMomentum ApplyAdam
            TensorListReserve TensorListFromTensor TensorListStack
            TensorListGetItem TensorListSetItem TensorListLength
            TensorListElementShape TensorListPushBack TensorListPopBack
            TensorListConcatV2 TensorListSplit TensorListGather
            TensorListScatterIntoExistingList TensorListScatterV2
            TensorListResize EmptyTensorList TensorArrayV3
            TensorArrayReadV3 TensorArrayWriteV3 TensorArrayGatherV3
            TensorArrayScatterV3 TensorArraySizeV3 TensorArrayConcatV3
            TensorArraySplitV3 TensorArrayCloseV3 TensorArrayGradV3
            HashTableV2 HashTable MutableHashTableV2
            MutableDenseHashTableV2 LookupTableFindV2 LookupTableFind
            LookupTableImportV2 LookupTableInsertV2 LookupTableSizeV2
            LookupTableExportV2 InitializeTableV2 InitializeTable
            AnonymousHashTable AnonymousMutableHashTable
            """
        ),
    ),
    Family(
        "strings",
        "string arithmetic in memory (serving inputs, labels, the saver's "
        "file-name formatting); none opens what a string names",
        _ops(
            """
            StringJoin StaticRegexFullMatch StaticRegexReplace RegexFullMatch
            RegexReplace StringLength Substr StringSplit StringSplitV2
            StringStrip StringLower StringUpper StringToNumber AsString
            StringFormat StringToHashBucketFast ReduceJoin DecodeBase64
            EncodeBase64 UnicodeDecode UnicodeEncode UnicodeTranscode
            UnicodeDecodeWithOffsets UnicodeScript StringToHashBucket
            StringToHashBucketStrong
            DecodeRaw  ShardedFilename StringNGrams
            """
        ),
    ),
    Family(
        "ragged and sparse",
        "ragged and sparse tensors (text models split strings into them) "
        "and counting, all in memory",
        _ops(
            """
            DenseBincount RaggedBincount RaggedCross RaggedFillEmptyRows
            RaggedFillEmptyRowsGrad RaggedGather RaggedRange
            RaggedTensorFromVariant RaggedTensorToSparse
            RaggedTensorToTensor RaggedTensorToVariant
            RaggedTensorToVariantGradient SparseAdd SparseBincount
            SparseConcat SparseReduceMax SparseReduceSum SparseReorder
            SparseSegmentMeanWithNumSegments
            SparseSegmentSqrtNWithNumSegments
            SparseSegmentSumWithNumSegments SparseSlice
            SparseTensorDenseAdd UniqueWithCounts UniqueWithCountsV2
            """
        ),
    ),
    Family(
        "datasets in memory",
        "tf.data over tensors already in memory (their functions are "
        "scanned, serialized dataset graphs too); no file, cache, "
        "snapshot or service",
        _ops(
            """
            TensorDataset TensorSliceDataset RangeDataset MapDataset
            ParallelMapDataset ParallelMapDatasetV2 BatchDataset
            BatchDatasetV2 ParallelBatchDataset PaddedBatchDataset
            PaddedBatchDatasetV2 PrefetchDataset FilterDataset
            FlatMapDataset InterleaveDataset ParallelInterleaveDatasetV4
            ZipDataset ConcatenateDataset RepeatDataset TakeDataset
            SkipDataset ShuffleDataset ShuffleDatasetV2 ShuffleDatasetV3
            ShuffleAndRepeatDataset ShuffleAndRepeatDatasetV2
            ReduceDataset OptionsDataset ModelDataset UnbatchDataset
            ScanDataset MapAndBatchDataset AssertCardinalityDataset
            DatasetCardinality DatasetFromGraph FinalizeDataset
            AnonymousIterator AnonymousIteratorV2 AnonymousIteratorV3
            MakeIterator IteratorV2 IteratorGetNext IteratorGetNextSync
            IteratorGetNextAsOptional DeleteIterator IteratorToStringHandle
            DummySeedGenerator AnonymousSeedGenerator DeleteSeedGenerator
            AnonymousRandomSeedGenerator DeleteRandomSeedGenerator
            SparseTensorSliceDataset WindowDataset
            """
        ),
    ),
)

# Ops on the list that run functions named in their attributes (the scan
# follows these edges; TensorFlow runs no function named elsewhere).
CALLS_FUNCTIONS = _ops(
    """
    Case StatelessCase If StatelessIf While StatelessWhile For
    PartitionedCall StatefulPartitionedCall SymbolicGradient MapDataset
    ParallelMapDataset ParallelMapDatasetV2 MapAndBatchDataset FilterDataset
    FlatMapDataset InterleaveDataset ParallelInterleaveDatasetV4
    ReduceDataset ScanDataset
    """
)

# Checkpoint ops: file I/O, passed only as the standard saver (`_scan.py`).
CHECKPOINT_SAVE_OPS = frozenset(
    {"Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints"}
)
CHECKPOINT_RESTORE_OPS = frozenset({"Restore", "RestoreV2", "RestoreSlice"})
CHECKPOINT_OPS = CHECKPOINT_SAVE_OPS | CHECKPOINT_RESTORE_OPS

# Allowed ops whose names or arguments sound like I/O but that do none;
# the registry test (which finds I/O ops by such words) accepts these.
NAMED_LIKE_IO: dict[str, str] = {
    "ShardedFilename": "formats a 'name-00000-of-00001' string; opens nothing",
    "Erf": "the error function; 'distributed' is statistics in its doc",
    "HostConst": "a constant kept in host memory",
    "RangeDataset": "a range of integers; its doc compares it to Python's",
    "Switch": "forwards a tensor to one output 'port' of the graph",
    "RefSwitch": "forwards a tensor to one output 'port' of the graph",
    "Snapshot": "copies a tensor in memory",
    "TensorSliceDataset": "slices tensors in memory; its is_files attribute "
    "only tells tf.data's optimizer they are names",
    "Xlog1py": "x * log1p(y); 'py' is part of its name",
    "_FusedConv2D": "a convolution fused with bias and activation; 'host' "
    "names a memory placement attribute",
}

ALLOWED: dict[str, Family] = {
    op: family for family in FAMILIES for op in family.ops
}

# Reasons for ops that are refused for what they do, by what they do.
# Checked in order; an op matches a rule when its name contains a word.
REASON_FILES = "reads, writes or lists files"
REASON_NETWORK = "opens network connections"
REASON_PYTHON = "runs Python code"
REASON_HOST = "reaches the host (prints, logs, stops the process or maps "
REASON_HOST += "memory)"
REASON_NOT_ALLOWED = (
    "not on imagehub's allowlist of ops an image model needs "
    "(imagehub/scan/_allowlist.py)"
)
_REASON_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (REASON_PYTHON, ("PyFunc",)),
    (
        REASON_NETWORK,
        ("Rpc", "DataService", "Register", "Collective", "Send", "Recv"),
    ),
    (
        REASON_FILES,
        (
            "File",
            "Reader",
            "Record",
            "Save",
            "Restore",
            "Load",
            "Snapshot",
            "CacheDataset",
            "Summary",
            "Writer",
            "CSV",
            "LMDB",
            "Sql",
            "Checkpoint",
            "Remap",
            "Debug",
            "Proto",
        ),
    ),
    (REASON_HOST, ("Print", "Abort", "ImmutableConst", "Log", "Timestamp")),
)


def allowed_family(op: str) -> Family | None:
    """The family that allows `op`, or None when it is not allowed."""
    return ALLOWED.get(op)


def refusal_reason(op: str) -> str:
    """Why `op` (not on the list) is refused, as specific as is known."""
    for reason, words in _REASON_WORDS:
        if any(word in op for word in words):
            return f"{reason}; {REASON_NOT_ALLOWED}"
    return REASON_NOT_ALLOWED
