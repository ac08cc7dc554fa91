// The phone page of a mobile hand-off (README "Mobile hand-off"). Plain JavaScript, no build step: it is served as
// written, from the binary. It reads the token from the URL's fragment (which never reaches a server), keeps it in
// sessionStorage for this tab only, and talks to the public GraphQL API with it like any other frontend. Presigned
// uploads go straight to the object store. Everything is built with DOM calls (no innerHTML): text from the server
// is never markup.
(function () {
  'use strict';

  var TOKEN_KEY = 'beian.mobile.token';
  var LANGUAGE_KEY = 'beian.mobile.language';

  var TEXT = {
    zh: {
      switchTo: 'English',
      opening: '正在打开…',
      steps: ['确认信息', '手机验证', '上传材料', '完成'],
      noTokenTitle: '链接不完整',
      noToken: '这个页面需要从电脑端的二维码打开。请在电脑上重新生成二维码，再用手机扫描。',
      badTokenTitle: '链接无效',
      badToken: '这个链接已过期、已被撤销或不完整。请在电脑端重新生成二维码，再用手机扫描。',
      networkTitle: '网络连接中断',
      network: '请检查网络后重试。已填写的内容不会丢失。',
      retry: '重试',
      whoTitle: '备案核验',
      registrar: '接入商',
      subject: '备案主体',
      website: '网站',
      person: '负责人',
      mobile: '手机号码',
      consentDefault:
        '为完成 ICP 备案，您将在本页验证手机号码，拍摄证件照片' +
        '，网站负责人还需录制一段人脸核验视频。这些材料仅用于备案审核，由接入商按规定保存。',
      agree: '我已阅读并同意以上内容',
      start: '开始',
      phoneTitle: '验证手机号码',
      phoneIntro: '我们将向 {mobile} 发送 6 位验证码。',
      send: '发送验证码',
      resendIn: '{s} 秒后可重新发送',
      sent: '验证码已发送，5 分钟内有效。',
      codeLabel: '6 位验证码',
      confirm: '确认',
      codesLeft: '此链接还可发送 {n} 次验证码。',
      noCodesLeft: '此链接的验证码次数已用完。请在电脑端重新生成二维码，再用手机扫描。',
      wrongCode: '验证码不正确，请核对短信后重试。',
      codeExpired: '验证码已过期或尝试次数过多，请重新发送。',
      rateLimited: '发送过于频繁，请在 {s} 秒后重试。',
      codeFormat: '请输入短信中的 6 位数字。',
      materialsTitle: '上传您的材料',
      materialsIntro: '逐项拍照或选择文件上传。全部完成后，电脑端会自动更新。',
      state: { MISSING: '待上传', UPLOADED: '已上传', ACCEPTED: '已通过', NEEDS_REVISION: '需重新上传' },
      back: '返回',
      takePhoto: '拍照',
      chooseFile: '选择文件',
      limit: '支持 {types}，不超过 {size}。',
      numberLabel: '证件上的号码',
      numberHint: '请输入证件上印刷的号码，须与电脑端表单一致。',
      numberRequired: '请输入证件上的号码。',
      mismatch:
        '证件号码与表单不一致。如证件无误，请在电脑端修改表单中的号码；' + '否则请拍摄正确的证件。',
      wrongType: '不支持此文件类型。',
      tooLarge: '文件过大（{size}），最大 {limit}。',
      uploading: '正在上传… {p}%',
      uploaded: '上传完成。',
      uploadFailed: '上传失败，请重试。已选择的文件和填写的内容已保留。',
      reason: '审核意见：',
      faceTitle: '人脸核验视频',
      faceIntro:
        '请在光线充足处，正对前置摄像头，录制约 5 秒视频，并大声读出屏幕上的 4 位数字。',
      faceStart: '开始录制',
      faceGetReady: '准备：{s}',
      faceRead: '请读出：',
      faceRecording: '录制中… {s}',
      faceReview: '请查看录像：面部清晰、读出了数字，即可上传。',
      faceUse: '使用此视频',
      faceAgain: '重新录制',
      faceNoCamera: '无法使用摄像头。请用手机相机录制视频：读出下面的数字，然后选择该视频。',
      faceRecordWithCamera: '用相机录制',
      faceExpired: '数字已失效，请重新开始。',
      doneTitle: '已完成',
      done: '您的手机验证和材料已全部提交，电脑端会自动显示为完成。现在可以关闭此页面。',
      stillMissing: '还有材料未上传。',
      support: '如需帮助：',
      mb: '{n} MB',
    },
    en: {
      switchTo: '中文',
      opening: 'Opening…',
      steps: ['Check', 'Phone', 'Documents', 'Done'],
      noTokenTitle: 'This link is incomplete',
      noToken: 'Open this page from the QR code shown on the desktop. Ask the desktop for a new QR code and scan it.',
      badTokenTitle: 'This link no longer works',
      badToken:
        'The link has expired, was revoked or is incomplete. Ask the desktop for a new QR code and scan it ' +
        'with your phone.',
      networkTitle: 'The connection dropped',
      network: 'Check your connection and try again. Nothing you entered is lost.',
      retry: 'Try again',
      whoTitle: 'ICP filing check',
      registrar: 'Provider',
      subject: 'Filed by',
      website: 'Website',
      person: 'Responsible person',
      mobile: 'Mobile number',
      consentDefault:
        'To complete the ICP filing you will confirm your mobile number here and photograph your documents; a ' +
        "website's responsible person also records a short face video. They are used for the filing's review " +
        'only and kept by the provider as the rules require.',
      agree: 'I have read and agree to the above',
      start: 'Start',
      phoneTitle: 'Confirm your mobile number',
      phoneIntro: 'We will text a 6-digit code to {mobile}.',
      send: 'Send the code',
      resendIn: 'Send again in {s} s',
      sent: 'Code sent. It works for 5 minutes.',
      codeLabel: '6-digit code',
      confirm: 'Confirm',
      codesLeft: 'This link may send {n} more codes.',
      noCodesLeft: 'This link has sent all its codes. Ask the desktop for a new QR code and scan it.',
      wrongCode: 'That code is not right. Check the text message and try again.',
      codeExpired: 'The code expired or was tried too often: send a new one.',
      rateLimited: 'Too many codes. Try again in {s} s.',
      codeFormat: 'Type the 6 digits of the text message.',
      materialsTitle: 'Upload your documents',
      materialsIntro: 'Photograph or choose a file for each. The desktop updates by itself when all are done.',
      state: { MISSING: 'To upload', UPLOADED: 'Uploaded', ACCEPTED: 'Accepted', NEEDS_REVISION: 'Upload again' },
      back: 'Back',
      takePhoto: 'Take a photo',
      chooseFile: 'Choose a file',
      limit: '{types}, at most {size}.',
      numberLabel: 'Number on the document',
      numberHint: 'Type the number printed on the document. It must match the form on the desktop.',
      numberRequired: 'Type the number printed on the document.',
      mismatch:
        'The number does not match the form. If the document is right, correct the number in the form on the ' +
        'desktop; otherwise photograph the right document.',
      wrongType: 'This type of file is not accepted.',
      tooLarge: 'The file is too large ({size}); at most {limit}.',
      uploading: 'Uploading… {p}%',
      uploaded: 'Uploaded.',
      uploadFailed: 'The upload failed: try again. Your file and what you typed are kept.',
      reason: "Reviewer's note: ",
      faceTitle: 'Face video',
      faceIntro:
        'In good light, face the front camera and record about 5 seconds, reading the 4 digits on the screen ' +
        'aloud.',
      faceStart: 'Start recording',
      faceGetReady: 'Get ready: {s}',
      faceRead: 'Read aloud:',
      faceRecording: 'Recording… {s}',
      faceReview: 'Check the recording: your face is clear and you read the digits. Then upload it.',
      faceUse: 'Use this video',
      faceAgain: 'Record again',
      faceNoCamera:
        "The camera cannot be used here. Record a video with your phone's camera: read the digits below, then " +
        'choose the video.',
      faceRecordWithCamera: 'Record with the camera',
      faceExpired: 'The digits expired: start again.',
      doneTitle: 'All done',
      done: 'Your phone check and documents are in. The desktop shows them as complete by itself. You may close ' +
        'this page.',
      stillMissing: 'Some documents are still to upload.',
      support: 'Need help? ',
      mb: '{n} MB',
    },
  };

  var ENGLISH_KINDS = {
    ID_CARD_FRONT: 'ID card, front (photo side)',
    ID_CARD_BACK: 'ID card, back (emblem side)',
    SUBJECT_CERTIFICATE: 'Business licence or certificate',
    VERIFICATION_SHEET: 'Signed verification sheet',
    COMMITMENT_LETTER: 'Signed commitment letter',
    FACE_VIDEO: 'Face video',
  };
  var NUMBERED = { ID_CARD_FRONT: true, SUBJECT_CERTIFICATE: true };

  var SESSION_QUERY =
    '{ mobileSession { personName mobile expiresAt phoneVerified codeSentAt codeExpiresAt nextCodeAt codesLeft ' +
    'faceChallenge faceChallengeExpiresAt subjectName websiteId websiteName ' +
    'registrar { name brandColor brandLogo supportContact consentText } ' +
    'materials { kind label state reason contentTypes maxBytes } } }';

  var state = {
    token: null,
    language: pickLanguage(),
    session: null,
    view: 'loading',
    agreed: false,
    notice: null,
    material: null,
    drafts: {},
  };

  function pickLanguage() {
    var saved = window.sessionStorage.getItem(LANGUAGE_KEY);
    if (saved === 'zh' || saved === 'en') return saved;
    var languages = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
    for (var i = 0; i < languages.length; i++) {
      var code = String(languages[i] || '').toLowerCase();
      if (code.indexOf('zh') === 0) return 'zh';
      if (code.indexOf('en') === 0) return 'en';
    }
    return 'zh';
  }

  function t(key, values) {
    var text = TEXT[state.language][key];
    if (typeof text !== 'string') return text;
    return text.replace(/\{(\w+)\}/g, function (_, name) {
      return values && name in values ? String(values[name]) : '';
    });
  }

  // DOM helper: h('p', { class: 'x', onclick: fn }, 'text', child, ...).
  function h(tag, attributes) {
    var element = document.createElement(tag);
    var attrs = attributes || {};
    Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name.indexOf('on') === 0) element.addEventListener(name.slice(2), value);
      else if (name === 'class') element.className = value;
      else if (value === true) element.setAttribute(name, '');
      else element.setAttribute(name, String(value));
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      element.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return element;
  }

  function Problem(code, error) {
    this.code = code;
    this.error = error || null;
  }

  function readToken() {
    var fragment = new URLSearchParams(window.location.hash.replace(/^#/, ''));
    var token = fragment.get('token');
    if (token) {
      window.sessionStorage.setItem(TOKEN_KEY, token);
      // Out of the address bar: a screenshot or a shared URL does not carry it.
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
      return token;
    }
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  // One GraphQL request with `body` (query, variables, extensions).
  function post(body) {
    return fetch('/graphql', {
      method: 'POST',
      credentials: 'omit',
      cache: 'no-store',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer ' + state.token,
        'accept-language': state.language,
      },
      body: JSON.stringify(body),
    }).then(
      function (response) {
        if (response.status === 401) throw new Problem('TOKEN');
        return response.json().then(
          function (body) {
            if (body.errors && body.errors.length) {
              var error = body.errors[0];
              var code = (error.extensions && error.extensions.code) || 'ERROR';
              if (code === 'UNAUTHENTICATED') throw new Problem('TOKEN', error);
              throw new Problem(code, error);
            }
            return body.data;
          },
          function () {
            throw new Problem('NETWORK');
          },
        );
      },
      function () {
        throw new Problem('NETWORK');
      },
    );
  }

  function hex(buffer) {
    return Array.prototype.map
      .call(new Uint8Array(buffer), function (b) {
        return ('0' + b.toString(16)).slice(-2);
      })
      .join('');
  }

  // Each query's SHA-256, for persisted queries (null where the browser has no Web Crypto: plain http).
  var hashes = {};
  function queryHash(query) {
    if (!(window.crypto && window.crypto.subtle && window.TextEncoder)) return Promise.resolve(null);
    if (hashes[query]) return Promise.resolve(hashes[query]);
    return window.crypto.subtle.digest('SHA-256', new TextEncoder().encode(query)).then(function (digest) {
      hashes[query] = hex(digest);
      return hashes[query];
    });
  }

  // A GraphQL request as a persisted query: the hash alone, and the query with it once when the server does not
  // know it yet (README, "Persisted queries").
  function gql(query, variables) {
    return queryHash(query).then(function (hash) {
      if (!hash) return post({ query: query, variables: variables || {} });
      var extensions = { persistedQuery: { version: 1, sha256Hash: hash } };
      return post({ variables: variables || {}, extensions: extensions }).catch(function (problem) {
        if (!problem || problem.code !== 'PERSISTED_QUERY_NOT_FOUND') throw problem;
        return post({ query: query, variables: variables || {}, extensions: extensions });
      });
    });
  }

  // The first field error of a refusal.
  function firstField(problem) {
    var fields = problem && problem.error && problem.error.extensions && problem.error.extensions.fields;
    return fields && fields.length ? fields[0] : null;
  }

  function fieldCode(problem) {
    var field = firstField(problem);
    return field ? field.code : null;
  }

  // The first field error's message, which the server words in the page's language (each request sends it as
  // Accept-Language).
  function fieldMessage(problem) {
    var field = firstField(problem);
    return (field && field.message) || null;
  }

  function refresh() {
    return gql(SESSION_QUERY).then(function (data) {
      state.session = data.mobileSession;
      brand();
    });
  }

  function brand() {
    var s = state.session;
    var brandBox = document.getElementById('brand');
    brandBox.textContent = '';
    if (s && s.registrar.brandLogo && s.registrar.brandLogo.indexOf('data:image/') === 0) {
      brandBox.appendChild(h('img', { src: s.registrar.brandLogo, alt: '' }));
    }
    brandBox.appendChild(h('span', {}, s ? s.registrar.name : ''));
    if (s && /^#[0-9a-f]{6}$/i.test(s.registrar.brandColor || '')) {
      document.documentElement.style.setProperty('--accent', s.registrar.brandColor);
    }
    var support = document.getElementById('support');
    support.textContent = s && s.registrar.supportContact ? t('support') + s.registrar.supportContact : '';
  }

  function allDone() {
    var s = state.session;
    return (
      s.phoneVerified &&
      s.materials.every(function (m) {
        return m.state === 'UPLOADED' || m.state === 'ACCEPTED';
      })
    );
  }

  function nextView() {
    var s = state.session;
    if (!s.phoneVerified) return state.agreed ? 'phone' : 'intro';
    if (state.material) return 'material';
    return allDone() ? 'done' : 'materials';
  }

  function steps() {
    var names = t('steps');
    var index = { intro: 0, phone: 1, materials: 2, material: 2, done: 3 }[state.view];
    var list = document.getElementById('steps');
    list.textContent = '';
    if (index === undefined) return;
    names.forEach(function (name, i) {
      list.appendChild(
        h('li', { class: i < index ? 'done' : i === index ? 'current' : '', 'aria-current': i === index && 'step' }, name),
      );
    });
  }

  // Views -----------------------------------------------------------------------------------------------------

  var timers = [];
  function clearTimers() {
    timers.forEach(function (id) {
      window.clearInterval(id);
    });
    timers = [];
  }

  function render() {
    clearTimers();
    document.documentElement.lang = state.language === 'zh' ? 'zh-CN' : 'en';
    document.getElementById('language').textContent = t('switchTo');
    document.getElementById('language').lang = state.language === 'zh' ? 'en' : 'zh-CN';
    if (state.session) brand();
    steps();
    var app = document.getElementById('app');
    app.textContent = '';
    var view = VIEWS[state.view] || VIEWS.loading;
    app.appendChild(view());
    var heading = app.querySelector('h1');
    if (heading) heading.setAttribute('tabindex', '-1');
  }

  function show(view) {
    state.view = view;
    render();
    window.scrollTo(0, 0);
  }

  function fail(problem) {
    if (problem && problem.code === 'TOKEN') {
      window.sessionStorage.removeItem(TOKEN_KEY);
      show('badToken');
    } else {
      show('network');
    }
  }

  function notice() {
    if (!state.notice) return null;
    return h('p', { class: state.notice.kind === 'ok' ? 'ok' : 'error', role: 'status' }, state.notice.text);
  }

  function seconds(until) {
    return Math.max(0, Math.ceil((new Date(until).getTime() - Date.now()) / 1000));
  }

  function size(bytes) {
    return t('mb', { n: (bytes / 1048576).toFixed(bytes < 1048576 ? 1 : 0) });
  }

  var VIEWS = {
    loading: function () {
      return h('p', { class: 'muted' }, t('opening'));
    },

    noToken: function () {
      return h('section', {}, h('h1', {}, t('noTokenTitle')), h('p', {}, t('noToken')));
    },

    badToken: function () {
      return h('section', {}, h('h1', {}, t('badTokenTitle')), h('p', {}, t('badToken')));
    },

    network: function () {
      return h(
        'section',
        {},
        h('h1', {}, t('networkTitle')),
        h('p', {}, t('network')),
        h('button', { class: 'primary', type: 'button', onclick: start }, t('retry')),
      );
    },

    intro: function () {
      var s = state.session;
      var facts = h('dl', { class: 'facts' });
      [
        ['registrar', s.registrar.name],
        ['subject', s.subjectName],
        ['website', s.websiteName],
        ['person', s.personName],
        ['mobile', s.mobile],
      ].forEach(function (pair) {
        if (!pair[1]) return;
        facts.appendChild(h('dt', {}, t(pair[0])));
        facts.appendChild(h('dd', {}, pair[1]));
      });
      var box = h('input', {
        type: 'checkbox',
        id: 'agree',
        checked: state.agreed,
        onchange: function (event) {
          state.agreed = event.target.checked;
          button.disabled = !state.agreed;
        },
      });
      var button = h(
        'button',
        {
          class: 'primary',
          type: 'button',
          disabled: !state.agreed,
          onclick: function () {
            show(nextView());
          },
        },
        t('start'),
      );
      return h(
        'section',
        {},
        h('h1', {}, t('whoTitle')),
        h('div', { class: 'card' }, facts),
        h('div', { class: 'card consent' }, s.registrar.consentText || t('consentDefault')),
        h('label', { class: 'check', for: 'agree' }, box, h('span', {}, t('agree'))),
        button,
      );
    },

    phone: function () {
      var s = state.session;
      var send = h('button', { class: 'secondary', type: 'button', onclick: sendCode }, t('send'));
      var input = h('input', {
        class: 'code',
        id: 'code',
        type: 'text',
        inputmode: 'numeric',
        autocomplete: 'one-time-code',
        maxlength: '6',
        pattern: '[0-9]{6}',
        value: state.drafts.code || '',
        oninput: function (event) {
          state.drafts.code = event.target.value.replace(/\D/g, '').slice(0, 6);
          event.target.value = state.drafts.code;
        },
      });
      var confirm = h('button', { class: 'primary', type: 'button', onclick: confirmCode }, t('confirm'));
      var wait = state.retryAt || s.nextCodeAt;
      function tick() {
        var left = wait ? seconds(wait) : 0;
        send.disabled = left > 0 || s.codesLeft <= 0;
        send.textContent = left > 0 ? t('resendIn', { s: left }) : t('send');
      }
      tick();
      timers.push(window.setInterval(tick, 1000));
      return h(
        'section',
        {},
        h('h1', {}, t('phoneTitle')),
        h('p', {}, t('phoneIntro', { mobile: s.mobile })),
        send,
        s.codesLeft > 0
          ? h('p', { class: 'muted' }, t('codesLeft', { n: s.codesLeft }))
          : h('p', { class: 'error' }, t('noCodesLeft')),
        h('label', { class: 'field', for: 'code' }, h('span', {}, t('codeLabel')), input),
        notice(),
        confirm,
      );
    },

    materials: function () {
      var s = state.session;
      var list = h('ul', { class: 'materials' });
      s.materials.forEach(function (material) {
        list.appendChild(
          h(
            'li',
            {},
            h(
              'button',
              {
                type: 'button',
                'data-kind': material.kind,
                onclick: function () {
                  state.material = material.kind;
                  state.notice = null;
                  show('material');
                },
              },
              h('span', {}, materialName(material)),
              h('span', { class: 'badge ' + material.state }, t('state')[material.state] || material.state),
            ),
          ),
        );
      });
      return h(
        'section',
        {},
        h('h1', {}, t('materialsTitle')),
        h('p', { class: 'muted' }, t('materialsIntro')),
        notice(),
        list,
      );
    },

    material: function () {
      var material = currentMaterial();
      if (!material) {
        state.material = null;
        return VIEWS.materials();
      }
      return material.kind === 'FACE_VIDEO' ? faceView(material) : documentView(material);
    },

    done: function () {
      return h('section', { class: 'done' }, h('h1', {}, t('doneTitle')), h('p', { class: 'ok' }, t('done')));
    },
  };

  function materialName(material) {
    return state.language === 'en' ? ENGLISH_KINDS[material.kind] || material.label : material.label;
  }

  function currentMaterial() {
    return state.session.materials.filter(function (m) {
      return m.kind === state.material;
    })[0];
  }

  function backButton() {
    return h(
      'button',
      {
        class: 'secondary',
        type: 'button',
        onclick: function () {
          state.material = null;
          state.notice = null;
          show(nextView());
        },
      },
      t('back'),
    );
  }

  function typesText(material) {
    return material.contentTypes
      .map(function (type) {
        return type.split('/')[1].replace('quicktime', 'mov').toUpperCase();
      })
      .join(state.language === 'zh' ? '、' : ', ');
  }

  function documentView(material) {
    var draft = state.drafts[material.kind] || (state.drafts[material.kind] = { number: '', file: null });
    var accept = material.contentTypes.join(',');
    var image = material.contentTypes.every(function (type) {
      return type.indexOf('image/') === 0;
    });
    function picker(capture, label) {
      return h(
        'label',
        { class: 'file' },
        h('input', {
          type: 'file',
          accept: accept,
          capture: capture,
          onchange: function (event) {
            var file = event.target.files && event.target.files[0];
            if (file) choose(material, file);
          },
        }),
        label,
      );
    }
    var number = NUMBERED[material.kind]
      ? h(
          'label',
          { class: 'field', for: 'number' },
          h('span', {}, t('numberLabel')),
          h('input', {
            id: 'number',
            type: 'text',
            autocomplete: 'off',
            autocapitalize: 'characters',
            spellcheck: 'false',
            value: draft.number,
            oninput: function (event) {
              draft.number = event.target.value;
            },
          }),
          h('span', { class: 'muted' }, t('numberHint')),
        )
      : null;
    var preview = draft.url ? h('img', { class: 'preview', src: draft.url, alt: '' }) : null;
    return h(
      'section',
      {},
      h('h1', {}, materialName(material)),
      material.reason ? h('p', { class: 'error' }, t('reason') + material.reason) : null,
      h('p', { class: 'muted' }, t('limit', { types: typesText(material), size: size(material.maxBytes) })),
      number,
      image ? picker('environment', t('takePhoto')) : null,
      picker(null, t('chooseFile')),
      preview,
      draft.file && !draft.busy
        ? h(
            'button',
            {
              class: 'primary',
              type: 'button',
              onclick: function () {
                upload(material, draft);
              },
            },
            t('retry'),
          )
        : null,
      h('progress', { id: 'progress', max: '100', value: String(draft.progress || 0), hidden: !draft.busy }),
      notice(),
      backButton(),
    );
  }

  // Checks a chosen file against the material's types and limit before anything is sent, then uploads it.
  function choose(material, file) {
    var draft = state.drafts[material.kind];
    var type = file.type === 'image/jpg' ? 'image/jpeg' : file.type;
    if (material.contentTypes.indexOf(type) < 0) {
      state.notice = { kind: 'error', text: t('wrongType') + ' ' + t('limit', { types: typesText(material), size: size(material.maxBytes) }) };
      return render();
    }
    if (file.size > material.maxBytes) {
      state.notice = { kind: 'error', text: t('tooLarge', { size: size(file.size), limit: size(material.maxBytes) }) };
      return render();
    }
    if (draft.url) URL.revokeObjectURL(draft.url);
    draft.file = file;
    draft.type = type;
    draft.url = type.indexOf('image/') === 0 ? URL.createObjectURL(file) : null;
    upload(material, draft);
  }

  function sha256(file) {
    return file.arrayBuffer().then(function (buffer) {
      return window.crypto.subtle.digest('SHA-256', buffer).then(hex);
    });
  }

  function upload(material, draft) {
    if (NUMBERED[material.kind] && !draft.number.trim()) {
      state.notice = { kind: 'error', text: t('numberRequired') };
      return render();
    }
    draft.busy = true;
    draft.progress = 0;
    state.notice = { kind: 'ok', text: t('uploading', { p: 0 }) };
    render();
    var name = draft.file.name || material.kind.toLowerCase() + '.' + draft.type.split('/')[1];
    sha256(draft.file)
      .then(function (digest) {
        var input = {
          kind: material.kind,
          fileName: name,
          contentType: draft.type,
          size: draft.file.size,
          sha256: digest,
          documentNumber: NUMBERED[material.kind] ? draft.number.trim() : null,
        };
        return gql(
          'mutation($input: RequestMobileUploadInput!) { requestMobileUpload(input: $input) { ' +
            'url method headers { name value } attachment { id } } }',
          { input: input },
        );
      })
      .then(function (data) {
        var ticket = data.requestMobileUpload;
        return put(ticket, draft).then(function () {
          return gql('mutation($id: ID!) { completeMobileUpload(id: $id) { id status } }', {
            id: ticket.attachment.id,
          });
        });
      })
      .then(function () {
        return refresh();
      })
      .then(function () {
        draft.busy = false;
        draft.file = null;
        state.material = null;
        state.notice = { kind: 'ok', text: t('uploaded') };
        show(nextView());
      })
      .catch(function (problem) {
        draft.busy = false;
        if (problem && problem.code === 'TOKEN') return fail(problem);
        var code = problem && fieldCode(problem);
        var text = t('uploadFailed');
        if (code === 'CERTIFICATE_NUMBER_MISMATCH') text = t('mismatch');
        else if (code === 'REQUIRED' && NUMBERED[material.kind]) text = t('numberRequired');
        else if (code === 'CODE_EXPIRED') text = t('faceExpired');
        else if (code) text = fieldMessage(problem) || text;
        state.notice = { kind: 'error', text: text };
        render();
      });
  }

  // PUT to the presigned URL with its signed headers, reporting progress.
  function put(ticket, draft) {
    return new Promise(function (resolve, reject) {
      var request = new XMLHttpRequest();
      request.open(ticket.method || 'PUT', ticket.url);
      ticket.headers.forEach(function (header) {
        // The browser sets Content-Length itself (and refuses to be told).
        if (header.name.toLowerCase() !== 'content-length') request.setRequestHeader(header.name, header.value);
      });
      request.upload.onprogress = function (event) {
        if (!event.lengthComputable) return;
        draft.progress = Math.round((event.loaded / event.total) * 100);
        var bar = document.getElementById('progress');
        if (bar) bar.value = draft.progress;
        var status = document.querySelector('[role=status]');
        if (status) status.textContent = t('uploading', { p: draft.progress });
      };
      request.onload = function () {
        if (request.status >= 200 && request.status < 300) resolve();
        else reject(new Problem('UPLOAD'));
      };
      request.onerror = function () {
        reject(new Problem('NETWORK'));
      };
      request.send(draft.file);
    });
  }

  // The face video ----------------------------------------------------------------------------------------------

  function canRecord() {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
  }

  function recorderType() {
    var candidates = ['video/mp4', 'video/webm;codecs=vp8,opus', 'video/webm'];
    for (var i = 0; i < candidates.length; i++) {
      if (!window.MediaRecorder.isTypeSupported || window.MediaRecorder.isTypeSupported(candidates[i])) {
        return candidates[i];
      }
    }
    return '';
  }

  function faceView(material) {
    var draft = state.drafts.FACE_VIDEO || (state.drafts.FACE_VIDEO = { number: '', file: null });
    var parts = [
      h('h1', {}, materialName(material)),
      material.reason ? h('p', { class: 'error' }, t('reason') + material.reason) : null,
      h('p', {}, t('faceIntro')),
      h('p', { class: 'muted' }, t('limit', { types: typesText(material), size: size(material.maxBytes) })),
    ];
    if (draft.url && draft.file) {
      parts.push(
        h('p', {}, t('faceReview')),
        h('video', { class: 'preview', src: draft.url, controls: true, playsinline: true }),
        h(
          'button',
          {
            class: 'primary',
            type: 'button',
            disabled: !!draft.busy,
            onclick: function () {
              upload(material, draft);
            },
          },
          t('faceUse'),
        ),
        h('button', { class: 'secondary', type: 'button', onclick: startFace }, t('faceAgain')),
      );
    } else if (draft.fallback) {
      var digits = state.session.faceChallenge;
      parts.push(
        h('p', { class: 'error' }, t('faceNoCamera')),
        digits ? h('p', { class: 'challenge-inline' }, h('strong', {}, digits)) : null,
        h(
          'label',
          { class: 'file' },
          h('input', {
            type: 'file',
            accept: 'video/*',
            capture: 'user',
            onchange: function (event) {
              var file = event.target.files && event.target.files[0];
              if (file) choose(material, file);
            },
          }),
          t('faceRecordWithCamera'),
        ),
      );
    } else {
      parts.push(h('button', { class: 'primary', type: 'button', onclick: startFace }, t('faceStart')));
    }
    parts.push(
      h('progress', { id: 'progress', max: '100', value: String(draft.progress || 0), hidden: !draft.busy }),
      notice(),
      backButton(),
    );
    return h.apply(null, ['section', {}].concat(parts));
  }

  // Starts (or restarts) the challenge, then records: the digits large on white, a countdown, five seconds.
  function startFace() {
    var draft = state.drafts.FACE_VIDEO;
    state.notice = null;
    gql('mutation { startFaceCheck { faceChallenge faceChallengeExpiresAt } }')
      .then(function (data) {
        state.session.faceChallenge = data.startFaceCheck.faceChallenge;
        state.session.faceChallengeExpiresAt = data.startFaceCheck.faceChallengeExpiresAt;
        if (!canRecord()) {
          draft.fallback = true;
          return render();
        }
        return navigator.mediaDevices
          .getUserMedia({ video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } }, audio: true })
          .then(function (stream) {
            record(stream, data.startFaceCheck.faceChallenge, draft);
          });
      })
      .catch(function (problem) {
        if (problem instanceof Problem) return fail(problem);
        draft.fallback = true;
        render();
      });
  }

  function record(stream, digits, draft) {
    var overlay = h('div', { class: 'challenge', role: 'dialog', 'aria-modal': 'true' });
    var camera = h('video', { autoplay: true, muted: true, playsinline: true });
    camera.srcObject = stream;
    var count = h('div', { class: 'count' });
    overlay.appendChild(h('div', {}, t('faceRead')));
    overlay.appendChild(h('div', { class: 'digits', id: 'digits' }, digits));
    overlay.appendChild(count);
    overlay.appendChild(camera);
    document.body.appendChild(overlay);
    var type = recorderType();
    var recorder = new window.MediaRecorder(stream, type ? { mimeType: type } : undefined);
    var chunks = [];
    recorder.ondataavailable = function (event) {
      if (event.data && event.data.size) chunks.push(event.data);
    };
    recorder.onstop = function () {
      stream.getTracks().forEach(function (track) {
        track.stop();
      });
      overlay.remove();
      var mime = (recorder.mimeType || type || 'video/webm').split(';')[0];
      var blob = new Blob(chunks, { type: mime });
      if (draft.url) URL.revokeObjectURL(draft.url);
      draft.file = new File([blob], 'face.' + (mime === 'video/mp4' ? 'mp4' : 'webm'), { type: mime });
      draft.type = mime;
      draft.url = URL.createObjectURL(blob);
      render();
    };
    var ready = 3;
    count.textContent = t('faceGetReady', { s: ready });
    var timer = window.setInterval(function () {
      ready -= 1;
      if (ready > 0) {
        count.textContent = t('faceGetReady', { s: ready });
        return;
      }
      window.clearInterval(timer);
      recorder.start(500);
      var left = 5;
      count.textContent = t('faceRecording', { s: left });
      var recording = window.setInterval(function () {
        left -= 1;
        count.textContent = t('faceRecording', { s: left });
        if (left <= 0) {
          window.clearInterval(recording);
          recorder.stop();
        }
      }, 1000);
    }, 1000);
  }

  // The phone check -------------------------------------------------------------------------------------------

  function sendCode() {
    state.notice = null;
    gql('mutation { sendPhoneCode { codeSentAt codeExpiresAt nextCodeAt codesLeft } }')
      .then(function (data) {
        Object.assign(state.session, data.sendPhoneCode);
        state.retryAt = null;
        state.notice = { kind: 'ok', text: t('sent') };
        render();
        var input = document.getElementById('code');
        if (input) input.focus();
      })
      .catch(function (problem) {
        if (problem.code === 'TOKEN' || problem.code === 'NETWORK') return fail(problem);
        var after = problem.error && problem.error.extensions && problem.error.extensions.retryAfterSeconds;
        if (problem.code === 'RATE_LIMITED' && after) {
          state.retryAt = new Date(Date.now() + after * 1000).toISOString();
          state.notice = { kind: 'error', text: t('rateLimited', { s: after }) };
        } else {
          state.notice = { kind: 'error', text: fieldMessage(problem) || (problem.error && problem.error.message) || t('uploadFailed') };
        }
        render();
      });
  }

  function confirmCode() {
    var code = state.drafts.code || '';
    if (!/^\d{6}$/.test(code)) {
      state.notice = { kind: 'error', text: t('codeFormat') };
      return render();
    }
    gql('mutation($code: String!) { confirmPhoneCode(code: $code) { phoneVerified } }', { code: code })
      .then(function () {
        state.notice = null;
        state.drafts.code = '';
        return refresh().then(function () {
          show(nextView());
        });
      })
      .catch(function (problem) {
        if (problem.code === 'TOKEN' || problem.code === 'NETWORK') return fail(problem);
        var field = fieldCode(problem);
        // A wrong code: the server's words say how many tries are left.
        var text =
          field === 'WRONG_CODE' ? fieldMessage(problem) || t('wrongCode') : field === 'CODE_EXPIRED' ? t('codeExpired') : null;
        state.notice = { kind: 'error', text: text || fieldMessage(problem) || t('codeFormat') };
        render();
      });
  }

  // Start -----------------------------------------------------------------------------------------------------

  function start() {
    state.token = readToken();
    if (!state.token) return show('noToken');
    if (!/^beian_m_[A-Za-z0-9_-]{8,}$/.test(state.token)) {
      window.sessionStorage.removeItem(TOKEN_KEY);
      return show('badToken');
    }
    show('loading');
    refresh().then(function () {
      show(nextView());
    }, fail);
  }

  document.getElementById('language').addEventListener('click', function () {
    state.language = state.language === 'zh' ? 'en' : 'zh';
    window.sessionStorage.setItem(LANGUAGE_KEY, state.language);
    render();
  });
  window.addEventListener('hashchange', start);
  start();
})();
